pytest_plugins = ["woobridge.sandbox.testing"]

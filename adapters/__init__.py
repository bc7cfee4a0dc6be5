"""Platform adapters: one module or package per platform."""

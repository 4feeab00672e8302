"""Provider adapters. Each satisfies kmsg_cli.core.ports.Provider; registry.build() makes them."""

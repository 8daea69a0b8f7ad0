"""Source adapters: one module per external source, all behind `providers.base.Provider`."""

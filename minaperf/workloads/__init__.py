"""Pure builders of what runs in the pods: the Mina daemon and its genesis, the
performance services and their PostgreSQL."""

"""The pure computation-graph model: definitions, validation and one synchronous run."""

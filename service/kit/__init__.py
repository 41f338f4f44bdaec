"""What every package may use: the database session and its helpers, migrations, the clock,
ids, money and instants on the wire, the request base model."""

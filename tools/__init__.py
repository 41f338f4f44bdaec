"""Tools around the service: the bank simulator, the demo region, the backtest and the
simulator. They may import anything in the service; nothing in the service imports them."""

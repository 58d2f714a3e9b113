"""Storage adapters behind the ports in ports.py."""

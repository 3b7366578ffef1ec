"""freshcart domain code. Everything Lambda needs besides app.py lives here."""

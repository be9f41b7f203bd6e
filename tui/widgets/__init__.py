"""The console's widgets: each renders; screens arrange them; core decides."""

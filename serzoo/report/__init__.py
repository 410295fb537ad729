"""Reading finished runs back: listing, comparing, pictures and the HTML report (never imports TensorFlow)."""

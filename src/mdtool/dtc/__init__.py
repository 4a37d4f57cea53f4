"""Sierra Chart's Data and Trading Communications protocol: a pure codec and a data-service server."""

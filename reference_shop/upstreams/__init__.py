"""fakalab: reference_shop/upstreams."""

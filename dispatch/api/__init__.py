"""HTTP routers of the dispatch endpoint, one module per resource."""

"""A minimal site for testing the credits app on its own, without reef_site (``make test-app``)."""

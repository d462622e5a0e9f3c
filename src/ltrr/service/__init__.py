"""The HTTP service: ltrr's search, feedback and catalog over HTTP (DESIGN.md, Service).

A thin layer over ``Engine``, like the CLI: ``schemas`` are the request and response models
(every string, list and number bounded), ``auth`` the API keys and their scopes, ``routes_*``
one ``APIRouter`` per resource, ``metrics`` the Prometheus series, ``app`` the application
(the engine built in its lifespan, errors mapped to 4xx JSON naming the field).
"""

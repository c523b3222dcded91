"""A local Vercel: the REST API the pinned CLI and ci/ use, deployments really served.

Deployment URLs are https://127.0.0.1:PORT (one TLS port per deployment, a self-signed
local CA), because subdomains of localhost do not resolve everywhere; the Production
alias is one more port whose target moves on promote and rollback.
"""

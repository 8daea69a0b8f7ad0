"""Self-hosted "How to Watch" and "Related Products" widgets for film sites."""
from affiliate.app import Affiliate, create_app

__all__ = ["Affiliate", "create_app"]

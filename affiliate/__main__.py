"""`python -m affiliate` is the `affiliate` command."""
from affiliate.cli import main

main()

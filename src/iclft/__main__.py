"""`python -m iclft` is the `iclft` command."""

from iclft.cli import main

main()

"""The local stack: everything `make run` starts on a laptop with no AWS account.

Not shipped to Lambda (requirements.txt does not carry it); tests and the CLI use it.
"""

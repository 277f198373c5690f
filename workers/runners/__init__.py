"""Runners turn a batch of chat prompts into one Generation each, in order.

`base` holds the contract, `static` the transformers runner (imports torch), `null` a do-nothing
runner for benchmarks of the queue path. Import the one you need from its module.
"""

"""Chat prompts the runner tests share."""

from __future__ import annotations


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "You answer customers."}, {"role": "user", "content": text}]


PROMPTS = [
    ask("Hello, where is my order?"),
    ask("Hola, ¿dónde está mi pedido? Lo pedí hace dos semanas y todavía no ha llegado."),
    ask("你好，我的订单在哪里？"),
    ask("Bonjour"),
]

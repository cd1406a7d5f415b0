"""OmegaConf resolvers the configs use; imported by the entry points before composing."""

from __future__ import annotations

from omegaconf import OmegaConf


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("lower"):
        OmegaConf.register_new_resolver("lower", lambda s: str(s).lower())


register_resolvers()

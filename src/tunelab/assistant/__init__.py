"""The writing / customer-service assistant (issue 18): replies from an instruction-tuned causal LM
(``tasks/sft.py`` trains it), an embedding retriever over training pairs, retrieval-augmented
prompts, and the scores of generated replies (ROUGE-L, BLEU, intent of the reply)."""

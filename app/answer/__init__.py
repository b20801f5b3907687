"""The answer engine: question analysis, retrieval, answer units, composition, answerability, the LLM path and its verification."""

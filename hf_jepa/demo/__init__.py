"""The Gradio demo: the app (`demo.app`), loading models and galleries (`demo.loading`), the embedding and
per-method prediction views (`demo.embeddings`, `demo.predictions`) and the pictures they draw (`demo.pictures`).
Gradio is imported only when an app is built."""

"""Learning from compiled programs: trace supervision, end-to-end baselines, experiments.

Needs torch (`pip install 'alta[learn]'`); nothing here is imported by `import alta`.

    data         train/test inputs of a library task by length, and their answers
    optim        optimisers (Adam, Adafactor) and the warm-up + decay schedule, seeded
    trace_mlp    an MLP trained on traces (MLP input -> output vectors) to replace the
                 compiled one; `plugged` runs it inside the compiled Transformer
    metrics      vector and element accuracy, per-variable decode errors, task accuracy
    checkpoint   safetensors checkpoints
    transformer  Universal and standard Transformers (absolute or relative positions)
    end_to_end   training them from input/output pairs only
    coverage     rules fired by training vs test inputs (the minimality analysis)
    experiments  `alta experiment NAME`: one command per claim of the paper
"""

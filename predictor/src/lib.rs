//! edgenas-predictor: the HELP-style latency predictor (meta-training, few-shot adaptation, metrics).

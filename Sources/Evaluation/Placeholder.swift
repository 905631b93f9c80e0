enum EvaluationPlaceholder {}

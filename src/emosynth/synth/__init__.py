"""Synthesis of emotion-driven images.

Quality-diversity search (MAP-Elites and CMA-MEGA, with ribs) over image encodings, and a conditional
generator trained through the predictor; both judged by the emotion predictor (or an ensemble):
``evolve(EvolveConfig(...), out)`` and ``generate(GenerateConfig(...), out)`` write a run directory
(``emosynth.rundir``).
"""

from ..models.registry import model_id, resolve_model
from ..transforms import TransformConfig, random_transforms
from ._demo import DEMO_RUNS, DEMO_SWEEPS, demo_configs, run_demo, run_demo_sweeps, side_by_side
from ._dqd import GradientJudge, MegaEmitter, frontier_elites
from ._edit import (
    HUE_BANDS,
    NEUTRAL,
    OPERATIONS,
    PARAM_INDEX,
    PARAMS,
    RECIPE_FORMAT,
    RECIPE_VERSION,
    EditEncoding,
    Param,
    apply_recipe,
    edit_tensor,
    gaussian_blur,
    genes_to_values,
    grain_field,
    load_recipe,
    make_recipe,
    recipe_summary,
    recipe_values,
    values_to_genes,
)
from ._encodings import ACTIVATIONS, CPPNEncoding, Encoding, PixelEncoding, make_encoding
from ._evolve import CHECKPOINT, EvolveConfig, emitter_kind, evolve, make_scheduler, step, transfer_check
from ._fitness import LUMA, Evaluator, Judge, JudgeSpec, judge_outputs, judge_scores, judges_input_size, score_chunk
from ._generate import GenerateConfig, generate, generator_id, outside_training_range
from ._generator import (
    CHECKPOINT_FILE,
    CONDITIONS,
    CONSENSUS_BASE_GENERATOR_DIR,
    CONSENSUS_PALMER_GENERATOR_DIR,
    DEFAULT_GENERATOR_DIR,
    LOG_FILE,
    MODEL_ONLY_GENERATOR_DIR,
    PACKAGED_GENERATORS,
    TRAIN_RANGES,
    Discriminator,
    Generator,
    GeneratorConfig,
    TrainingJudge,
    TrainingJudges,
    batch_losses,
    condition_loss,
    encode,
    evaluate_generator,
    grid_targets,
    held_out_figures,
    held_out_names,
    layout_distance,
    layout_features,
    objective_names,
    real_features,
    resolve_generator,
    sample_targets,
    step_losses,
    train_generator,
    training_judge,
    training_judges,
    warm_start,
)
from ._generator_eval import EVAL_FILE, GeneratorEvalConfig, assign, correlation, layout_diversity, pairwise_diversity
from ._generator_eval import evaluate as run_generator_evaluation
from ._photo_edit import (
    EDIT_PRIOR_FORMAT,
    EDIT_PRIOR_PATH,
    EDIT_PRIOR_VERSION,
    PRIOR_FEATURES,
    START_CHOICES,
    EditConfig,
    EditPrior,
    EditResult,
    check_target,
    consensus_objective,
    edit_judge,
    edit_photos,
    load_edit_prior,
    photo_paths,
    prior_features,
    reapply_recipe,
    run_edit,
    ssim_grey,
    sweep_photo,
    sweep_targets,
    write_edit_run,
)
from ._spaces import (
    CONSENSUS_METHOD,
    CONSENSUS_TAU,
    SPACES,
    AffectSpace,
    CategorySpace,
    ConsensusSpace,
    Space,
    make_space,
)

__all__ = ["EDIT_PRIOR_FORMAT", "EDIT_PRIOR_PATH", "EDIT_PRIOR_VERSION", "PRIOR_FEATURES", "START_CHOICES",
           "EditPrior", "load_edit_prior", "prior_features",
           "ACTIVATIONS", "CHECKPOINT", "CHECKPOINT_FILE", "CONDITIONS", "DEFAULT_GENERATOR_DIR", "DEMO_RUNS",
           "DEMO_SWEEPS",
           "EVAL_FILE", "LOG_FILE", "LUMA", "SPACES", "TRAIN_RANGES", "AffectSpace", "CPPNEncoding", "CategorySpace",
           "Discriminator", "Encoding", "Evaluator", "EvolveConfig", "GenerateConfig", "Generator",
           "GeneratorConfig", "GeneratorEvalConfig", "GradientJudge", "Judge", "JudgeSpec", "MegaEmitter",
           "PixelEncoding", "Space", "TrainingJudge", "TransformConfig", "assign", "condition_loss", "demo_configs",
           "emitter_kind", "encode", "evaluate_generator", "evolve", "frontier_elites", "generate", "generator_id",
           "grid_targets", "outside_training_range",
           "make_encoding", "make_scheduler", "make_space", "model_id", "pairwise_diversity", "random_transforms",
           "real_features", "resolve_generator", "resolve_model", "run_demo",
           "run_demo_sweeps", "side_by_side", "run_generator_evaluation",
           "sample_targets", "score_chunk", "step", "step_losses", "train_generator", "training_judge",
           "MODEL_ONLY_GENERATOR_DIR", "CONSENSUS_BASE_GENERATOR_DIR",
           "CONSENSUS_PALMER_GENERATOR_DIR", "PACKAGED_GENERATORS", "TrainingJudges",
           "batch_losses", "held_out_figures", "held_out_names",
           "layout_distance", "layout_features", "objective_names", "training_judges", "warm_start",
           "correlation", "layout_diversity",
           "transfer_check",
           # judges in the objective and held out (issue 17)
           "CONSENSUS_METHOD", "CONSENSUS_TAU", "ConsensusSpace", "judge_outputs", "judge_scores", "judges_input_size",
           # photo editing (issue 18)
           "HUE_BANDS", "NEUTRAL", "OPERATIONS", "PARAM_INDEX", "PARAMS", "RECIPE_FORMAT", "RECIPE_VERSION",
           "EditConfig", "EditEncoding", "EditResult", "Param", "apply_recipe", "check_target", "edit_photos",
           "edit_tensor", "gaussian_blur", "genes_to_values", "grain_field", "load_recipe", "make_recipe",
           "recipe_summary", "recipe_values", "ssim_grey", "sweep_photo", "sweep_targets", "values_to_genes",
           "write_edit_run", "consensus_objective", "edit_judge", "photo_paths", "reapply_recipe", "run_edit"]

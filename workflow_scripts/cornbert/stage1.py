"""A stage-1 model trained elsewhere (pretraining.stage1_model): checked, and its tokenizer made the workflow's.

Stage 2 continues from the folder's weights, and every later stage reads tokens with the tokenizer the model was
trained with, which must lie in the same folder (pretrain_model saves it there). A tokenizer that does not fit
the weights (another vocabulary size, other special tokens, longer inputs than the position table) is refused in
one line naming both files, before any stage-2 work.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from cornbert.artefacts import check_json, check_model_dir
from cornbert.errors import InputError
from cornbert.model import POSITION_OFFSET
from cornbert.runtime import atomic_path
from cornbert.tokenizer import load_tokenizer

log = logging.getLogger(__name__)

WHAT = "stage-1 model (a RobertaForMaskedLM folder saved by pretrain_model or save_pretrained)"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def check_stage1_model(folder: str | Path) -> None:
    """The folder holds whole weights and the tokenizer they were trained with; an InputError names what does not."""
    folder = Path(folder)
    check_model_dir(folder, WHAT)
    tokenizer_file, config_file = folder / "tokenizer.json", folder / "config.json"
    if not tokenizer_file.is_file():
        raise InputError(folder, "no tokenizer.json: a stage-1 model folder must hold the tokenizer the model was "
                                 "trained with (pretrain_model saves it beside the weights); copy it there")  # fmt: skip
    config = check_json(config_file)
    tokenizer = load_tokenizer(folder)
    problems = []
    if config.get("vocab_size") != len(tokenizer):
        problems.append(f"{len(tokenizer)} tokens against vocab_size {config.get('vocab_size')}")
    for name in ("bos", "pad", "eos"):
        wanted, found = config.get(f"{name}_token_id"), getattr(tokenizer, f"{name}_token_id")
        if wanted is not None and wanted != found:
            problems.append(f"{name} token id {found} against {name}_token_id {wanted}")
    positions = config.get("max_position_embeddings")
    if positions is not None and tokenizer.model_max_length + POSITION_OFFSET > positions:
        problems.append(f"max_length {tokenizer.model_max_length} + {POSITION_OFFSET} against "
                        f"max_position_embeddings {positions}")  # fmt: skip
    if problems:
        raise InputError(tokenizer_file, f"does not match {config_file} ({'; '.join(problems)}): not the tokenizer "
                                         "this model was trained with")  # fmt: skip


def import_stage1_model(folder: str | Path, tokenizer_dir: str | Path) -> None:
    """Check the folder, then copy its tokenizer files to `tokenizer_dir` (results/tokenizer)."""
    folder, tokenizer_dir = Path(folder), Path(tokenizer_dir)
    check_stage1_model(folder)
    tokenizer_dir.mkdir(parents=True, exist_ok=True)
    # tokenizer.json last: it is the rule's output, so a stopped copy never looks finished
    for name in sorted(TOKENIZER_FILES, key=lambda name: name == "tokenizer.json"):
        if (folder / name).is_file():
            with atomic_path(tokenizer_dir / name) as tmp:
                shutil.copyfile(folder / name, tmp)
    log.info("stage 1: %s (trained elsewhere); its tokenizer (%d tokens) copied to %s", folder,
             len(load_tokenizer(tokenizer_dir)), tokenizer_dir)  # fmt: skip

"""Extra NLI training data beside the competition CSV: a mixture of sources, labels mapped by name, leaks dropped.

The mixture is a list of `ExtraSource` entries (a recipe's `extra_data`, like alignment-handbook's
`dataset_mixture`), each with its own license, cap, versions per item and weight. Every source becomes rows of
`premise, hypothesis, label, lang_abv, language`. The competition's non-English pairs are XNLI pairs, so a source
item (one pair and its translations) is dropped whole when any of its versions matches an evaluated pair: the
validation split, and the test split when there is one.

- `sources`: `ExtraSource`, its SPEC (`Spec`: a local file or folder, or a Hub data set) and `read_source`;
- `collection`: a loaded source as columns of its labelled versions (`collect`), hashed for deduplication;
- `mixture`: `build_extra`, the one place where rows are deduplicated and sampled, and the report of each source;
- `cache`: the build on disk, named for its inputs (`build_fingerprint`, `save_build`, `load_build`);
- `arrow`: the one module that leans on how `datasets` keeps a data set (its Arrow files, its indices).
"""

from contradiction.data.extra.cache import build_fingerprint, load_build, save_build
from contradiction.data.extra.collection import LABEL_NAMES, normalise
from contradiction.data.extra.mixture import DEDUP_MODES, OUTPUT_FEATURES, build_extra, format_extra_report
from contradiction.data.extra.sources import SOURCE_FORM, ExtraSource, check_specs, parse_source, parse_spec

__all__ = [
    "DEDUP_MODES",
    "LABEL_NAMES",
    "OUTPUT_FEATURES",
    "SOURCE_FORM",
    "ExtraSource",
    "build_extra",
    "build_fingerprint",
    "check_specs",
    "format_extra_report",
    "load_build",
    "normalise",
    "parse_source",
    "parse_spec",
    "save_build",
]

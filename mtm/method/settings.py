"""The method's settings, each declared once: MemorySettings, the range checks, the scripts' defaults (sample.py,
evaluate.py) and evaluate.py's sweep keys all come from SETTINGS. A new knob is one line here."""
from dataclasses import dataclass, field, make_dataclass

from configurator import at_least, between, check_values, ints_at_least, nonempty_ints, number, one_of


class MemorySettingsError(ValueError):
    """A method setting out of range or in a combination that means nothing: one line for the user."""


# -----------------------------------------------------------------------------
# settings of the method, each declared once: MemorySettings, the range checks, the scripts' defaults
# (sample.py, evaluate.py) and evaluate.py's sweep keys all come from this table. A new knob is one line here.

@dataclass(frozen=True)
class Setting:
    default: object
    check: object  # value -> None (fine) or what is wrong with it; not called for None
    help: str


SETTINGS = dict(
    # the paper's method (Types 1-3): the defaults are the paper's
    knn_num=Setting([], ints_at_least(0), "k nearest neighbours per layer, one entry per layer; 0 = off there"),
    mem_frac=Setting(5.0, at_least(0), "MF, equation 4"),
    bookkeeping_frac=Setting(0.9, between(0, 1), "BF, equation 4"),
    knn_softmax_influence=Setting(1.0, at_least(0, strict=True), "TS, equation 5"),
    resid_only=Setting(False, None, "True: the token's own key/value are not candidates (Type 2)"),
    resid_frac=Setting(0.0, between(0, 1), "r: v <- (1 - r) m + r v (Types 2 and 3)"),
    bookkeeping_token=Setting(None, None, "creation 2: the text every memory text is read after, then dropped ('' = "
                              "creation 1); None: the model's (mtm.loading.model_facts: '\\n', Gemma's '<bos>')"),
    memory_mode=Setting("exact", one_of("exact", "cached"), "'exact': the paper's (the newest token re-selects for "
                        "every row); 'cached': each token uses the memory for its own output only"),
    # beyond the paper (docs/METHOD.md, "Attention retrieval"); the defaults keep the paper's method exactly
    retrieval=Setting("blend", one_of("blend", "attention"), "'blend': steps 1-10, found values blended into v "
                      "(Types 1-3); 'attention': every query row's top-k memory entries join its softmax"),
    search=Setting("key_l2", one_of("key_l2", "query_ip", "query_cos"), "what finds stored entries: 'key_l2' (the "
                   "paper: the token's key, L2), 'query_ip' or 'query_cos' (the token's query: what attention ranks)"),
    mem_threshold=Setting(-1.0, between(-1, 1), "attention: entries whose cosine with the query is below this stay "
                          "out (-1: none)"),
    chunk_select=Setting(0, at_least(0), "attention: first choose this many chunks (texts, sentences or blocks) "
                         "with the model's own queries, then read only their tokens; 0 = the whole store"),
    chunk_by=Setting("text", one_of("text", "sentence", "block"), "what a chunk is"),
    chunk_size=Setting(64, at_least(1), "tokens per block (chunk_by='block')"),
    chunk_layers=Setting(None, ints_at_least(0), "layers whose queries score the chunks; None: the model's "
                         "chooser (mtm.loading.model_facts), with its chunk_heads"),
    chunk_heads=Setting(None, nonempty_ints(), "of those layers' query heads, the ones that score (None: all, or "
                        "the model's where chunk_layers is the model's)"),
    chunk_min_score=Setting(None, number(), "a chosen chunk is read only if its score reaches this (None: always)"),
    chunk_min_overlap=Setting(None, number(), "a chosen chunk is read only if it holds this share of the prompt's "
                              "rare tokens (rare_overlap; needs the Memory's rarity; None: no check)"),
    chunk_overlap_by=Setting("tokens", one_of("tokens", "char_ngrams"), "what the relevance check counts: the "
                             "prompt's distinct tokens, or the character n-grams (chunk_ngram) of its lower-cased "
                             "words, blind to how a tokenizer cuts a name (at a line's start, after a space)"),
    chunk_ngram=Setting(4, at_least(1), "chunk_overlap_by='char_ngrams': n, counted on each word with its two ends "
                        "marked"),
    chunk_rarity_power=Setting(1.0, at_least(0, strict=True), "the relevance check weighs each prompt token by its "
                               "rarity to this power (> 1: the rarest tokens, names, count more)"),
    chunk_hops=Setting(1, at_least(1), "rounds of choosing: each further round chooses chunk_select more among "
                       "the rest by the rare tokens the texts read so far brought (next_hop; 2: a question whose "
                       "answer needs two facts)"),
    chunk_skip=Setting(1, at_least(0), "the prompt's first positions, alike in every prompt, score no chunk"),
    chunk_hub_k=Setting(0, at_least(0), "choose by each chunk's score minus its typical score, the mean of its "
                        "chunk_hub_k best scores over reference prompts (openings of lines of real prose, the "
                        "same for every store; chunk_typical): CSLS's hubness term, so that a long chunk, with more "
                        "chances of a high best match, is not chosen for every prompt; 0 = the raw score"),
    chunk_hub_prompts=Setting(200, at_least(1), "chunk_hub_k > 0: how many reference prompts (chunks.hub_prompts)"),
    chunk_backend=Setting("torch", one_of("torch", "lancedb"), "what scores the chunks: 'torch' (exact, the "
                          "chooser's keys in RAM) or 'lancedb' (LanceDB's multivector search, embedded; a table of "
                          "the chunks in the store's directory)"),
    mem_position=Setting("query", one_of("query", "before"), "attention, rotary models: where memory keys sit: "
                         "'query' (the query's own position) or 'before' (the chosen chunks laid out before the "
                         "context)"),
    mem_sink=Setting(True, None, "'before': lay out the store's bookkeeping token(s), which every stored text was "
                     "read after (the attention sink), before the chosen chunks: the memory then reads as "
                     "bookkeeping token + chunks + prompt in the context"),
    mem_hide_start=Setting(0, at_least(0), "'before' with the sink, rotary models, rows that read memory: the "
                           "prompt's first this many positions (its own start token, which the memory's bookkeeping "
                           "token already stands for) are hidden from the later positions in the layers that read "
                           "memory, and the memory moves up as many positions, so that the prompt reads on from the "
                           "memory as from a context: Gemma's <bos> fact question, not <bos> fact <bos> question"),
)


def with_facts(config, facts):
    """config with the settings it leaves None filled by a model's facts (mtm.loading.model_facts): the bookkeeping
    token, and the chooser's layers with their heads (the heads only where the layers are the model's too)."""
    config, facts = dict(config), facts or {}
    if config.get("bookkeeping_token") is None and "bookkeeping_token" in facts:
        config["bookkeeping_token"] = facts["bookkeeping_token"]
    if config.get("chunk_layers") is None and facts.get("chunk_layers") is not None:
        config["chunk_layers"] = list(facts["chunk_layers"])
        if config.get("chunk_heads") is None and facts.get("chunk_heads") is not None:
            config["chunk_heads"] = list(facts["chunk_heads"])
    return config


def method_defaults():
    """{name: default} of every method setting, fresh copies: what the scripts start from."""
    return vars(MemorySettings())


def _settings_field(s):
    return field(default_factory=lambda: list(s.default)) if isinstance(s.default, list) else field(default=s.default)


class _SettingsMethods:

    @classmethod
    def of(cls, config, facts=None):
        """The settings a config (a script's settings, a sweep point) names, the rest at their defaults, those left
        None filled by the model's facts (with_facts), checked."""
        return cls(**with_facts({name: config[name] for name in SETTINGS if name in config}, facts)).check()

    @property
    def layers(self):
        """The layers that read the memory."""
        return [i for i, k in enumerate(self.knn_num) if k > 0]

    @property
    def store_layers(self):
        """The layers whose keys/values the store must hold: the reading layers and the chunk-scoring ones."""
        return sorted(set(self.layers) | (set(self.chunk_layers or []) if self.chunk_select else set()))

    def check(self):
        """One line for a setting out of range (MemorySettingsError); the scripts call it before loading a model."""
        check_values(vars(self), {name: setting.check for name, setting in SETTINGS.items()}, MemorySettingsError)
        if self.retrieval == "blend" and (self.chunk_select or self.mem_position != "query"):
            raise MemorySettingsError("chunk_select and mem_position apply to retrieval='attention' only")
        if self.retrieval == "attention" and self.search == "key_l2" and not self.chunk_select:
            raise MemorySettingsError("retrieval='attention' ranks memory entries by the query: set search to "
                                      "'query_ip' or 'query_cos'")
        if self.chunk_select and not self.chunk_layers:
            raise MemorySettingsError("chunk_select needs chunk_layers: the layers whose queries score the chunks")
        if self.chunk_min_overlap is not None and not self.chunk_select:
            raise MemorySettingsError("chunk_min_overlap checks chosen chunks: it needs chunk_select > 0")
        if self.chunk_backend != "torch" and not self.chunk_select:
            raise MemorySettingsError(f"chunk_backend={self.chunk_backend!r} scores chunks: it needs chunk_select > 0")
        if self.chunk_hub_k and not self.chunk_select:
            raise MemorySettingsError("chunk_hub_k corrects the chunks' scores: it needs chunk_select > 0")
        if self.chunk_hub_k > self.chunk_hub_prompts:
            raise MemorySettingsError(f"chunk_hub_k = {self.chunk_hub_k} best scores of chunk_hub_prompts = "
                                      f"{self.chunk_hub_prompts} reference prompts: give chunk_hub_k <= chunk_hub_prompts")
        if self.mem_position == "before" and not self.chunk_select:
            raise MemorySettingsError("mem_position='before' lays out chosen chunks: it needs chunk_select > 0")
        if self.mem_hide_start and (self.mem_position != "before" or not self.mem_sink):
            raise MemorySettingsError("mem_hide_start hides the prompt's start behind the memory's bookkeeping token: "
                                      "it needs mem_position='before' and mem_sink=True")
        return self

    @property
    def method_type(self):
        """The paper's name for these settings: Type 1, 2 or 3 (or the attention retrieval)."""
        if self.retrieval == "attention":
            return f"attention retrieval ({self.chunk_select} chunks)" if self.chunk_select else "kNN attention"
        if self.resid_only:
            return "Type 2" if self.resid_frac > 0 else "Type 2 (r=0: memory values only)"
        return "Type 3" if self.resid_frac > 0 else "Type 1"


MemorySettings = make_dataclass("MemorySettings", [(name, object, _settings_field(s)) for name, s in SETTINGS.items()],
                                bases=(_SettingsMethods,))

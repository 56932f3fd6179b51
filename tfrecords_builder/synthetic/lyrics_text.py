"""Lyrics for synthetic clips: English or Chinese lines built from word pools and line templates.

A song's lyrics carry three kinds of cue, each with its own strength:

* topic (love | party | nature): a line draws its nouns and verbs from the song's topic pool
  with probability TOPIC_LINE_PROB, from another topic's pool with probability
  OTHER_TOPIC_LINE_PROB (a love song mentions the night, a party song the sky), and from a
  generic pool (time, world, road, ...) otherwise. It is the only source of the topic tags.
* mood (calm | tense, chosen from the latent stress in ``spec.py``, agreeing with it with
  probability LYRICS_STRESS_AGREEMENT): a line carries a mood word (adjective or verb) with
  probability MOOD_WORD_PROB; that word comes from the song's mood pool with probability
  MOOD_WORD_CONSISTENCY and from the opposite pool otherwise (mixed feelings).
* energy: a line carries an energy adverbial with probability ENERGY_WORD_PROB, from the
  pool that matches the latent energy with probability ENERGY_WORD_CONSISTENCY only -
  a weak cue, as tempo and loudness are not something lyrics state.

Chinese lyrics use Chinese pools and templates whose words are in jieba's dictionary, so the
jieba segmentation path is exercised; lines contain no spaces between words, as real
Chinese lyrics do.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

MIN_LINES, MAX_LINES = 6, 12
TOPIC_LINE_PROB = 0.65
OTHER_TOPIC_LINE_PROB = 0.15
MOOD_WORD_PROB = 0.85
MOOD_WORD_CONSISTENCY = 0.9
ENERGY_WORD_PROB = 0.25
ENERGY_WORD_CONSISTENCY = 0.65
CHORUS_PROB = 0.5  # the song repeats one of its lines at the end
FILLER_PROB = 0.15  # a line opens with a filler ("oh", "yeah", ...)

EN = {
    "pronoun": ("I", "we", "you", "they"),
    "prep": ("under", "through", "across", "beneath", "beyond", "into", "along"),
    "filler": ("oh", "yeah", "oh oh", "hey", "la la", "baby", "ooh"),
    "topic": {
        "love": {"noun": ("heart", "kiss", "lover", "eyes", "arms", "promise", "darling", "embrace"),
                 "verb": ("dream", "wait", "belong", "long", "linger"),
                 "verb_t": ("hold", "kiss", "miss", "need", "call")},
        "party": {"noun": ("night", "club", "dance floor", "crowd", "lights", "weekend", "music", "beat"),
                  "verb": ("dance", "sing", "jump", "shout", "party"),
                  "verb_t": ("raise", "feel", "play", "light")},
        "nature": {"noun": ("river", "mountain", "forest", "sky", "rain", "ocean", "wind", "flowers",
                            "sun", "moon", "valley"),
                   "verb": ("wander", "breathe", "flow", "climb", "roam"),
                   "verb_t": ("cross", "follow", "watch", "greet")},
    },
    "generic": {"noun": ("time", "world", "day", "road", "home", "life", "story", "name"),
                "verb": ("go", "stay", "turn", "try", "remember"),
                "verb_t": ("find", "know", "remember", "see")},
    "mood": {
        "calm": {"adj": ("golden", "bright", "warm", "sweet", "gentle", "shining", "happy", "peaceful"),
                 "verb": ("smile", "laugh", "shine", "rise", "heal")},
        "tense": {"adj": ("cold", "broken", "empty", "lonely", "bitter", "grey", "restless", "dark"),
                  "verb": ("cry", "bleed", "fade", "break", "drown", "tremble")},
    },
    "energy": {1: ("tonight", "faster and faster", "like fire", "all night long", "out loud", "wild and free"),
               0: ("slowly", "so quietly", "in the still of night", "softly", "half asleep", "so slow")},
}

ZH = {
    "pronoun": ("我", "我们", "你", "他们"),
    "filler": ("啊", "哦", "啦啦", "嘿"),
    "topic": {
        "love": {"noun": ("爱情", "恋人", "眼睛", "拥抱", "承诺", "思念", "心"),
                 "verb": ("等待", "想念", "守护", "相爱", "依偎")},
        "party": {"noun": ("派对", "舞池", "人群", "灯光", "周末", "音乐", "节奏"),
                  "verb": ("跳舞", "歌唱", "狂欢", "欢呼", "摇摆")},
        "nature": {"noun": ("河流", "山峰", "森林", "天空", "雨水", "大海", "微风", "花朵", "太阳", "月亮"),
                   "verb": ("漫步", "呼吸", "流淌", "攀登", "眺望")},
    },
    "generic": {"noun": ("时间", "世界", "道路", "家", "生活", "故事", "名字"),
                "verb": ("前进", "回头", "寻找", "出发", "记得")},
    "mood": {
        "calm": {"adj": ("温暖", "明亮", "甜蜜", "快乐", "自由", "美丽", "温柔", "安宁"),
                 "verb": ("微笑", "欢笑", "闪耀", "飞翔", "绽放")},
        "tense": {"adj": ("冰冷", "破碎", "孤独", "空虚", "苦涩", "灰暗", "黑暗", "迷茫"),
                  "verb": ("哭泣", "流泪", "凋零", "沉沦", "颤抖", "心碎")},
    },
    "energy": {1: ("今夜", "尽情", "疯狂", "不停", "热烈"),
               0: ("慢慢", "静静", "轻轻", "悄悄", "缓缓")},
}

# Templates: {p} pronoun, {n}/{n2} topic nouns, {v} topic verb, {vt} transitive topic verb,
# {prep} preposition, {ma} mood adjective, {mv} mood verb, {e} energy adverbial.
# A line without a mood word fills {ma}/{mv} from the neutral pools, so it still reads as a
# sentence.
EN_TEMPLATES = (
    "{p} {v} {prep} the {ma} {n} {e}",
    "{p} {vt} the {ma} {n} {e}",
    "{ma} {n}, {p} {mv} {e}",
    "oh my {n}, {p} {mv} {e}",
    "{p} {v} and {mv} {prep} the {n}",
    "in the {ma} {n} {e}",
    "{p} {vt} your {n} and {p} {mv}",
    "take me {prep} the {ma} {n2} {e}",
)
EN_NEUTRAL = {"adj": ("old", "open", "wide", "long", "same"), "verb": ("stay", "go on", "wait here")}

ZH_TEMPLATES = (
    "{p}在{ma}的{n}里{e}{v}",
    "{ma}的{n}{e}{mv}",
    "{p}{e}{v}，{n}在{mv}",
    "{n}和{n2}都那么{ma}",
    "{p}一直{v}，一直{mv}",
    "{e}{v}吧，{ma}的{n2}",
)
ZH_NEUTRAL = {"adj": ("遥远", "熟悉", "古老", "平常"), "verb": ("停留", "走过", "经过")}


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _line(rng: np.random.Generator, pools: dict, templates: tuple, neutral: dict,
          topic: str, mood: str, energy: int) -> str:
    """One lyric line; the draws per line are fixed in number so streams stay reproducible."""
    template = _pick(rng, templates)
    source, other = rng.random(), _pick(rng, [t for t in pools["topic"] if t != topic])
    if source < TOPIC_LINE_PROB:
        topic_pool = pools["topic"][topic]
    elif source < TOPIC_LINE_PROB + OTHER_TOPIC_LINE_PROB:
        topic_pool = pools["topic"][other]
    else:
        topic_pool = pools["generic"]
    noun, noun2 = _pick(rng, topic_pool["noun"]), _pick(rng, topic_pool["noun"])
    verb = _pick(rng, topic_pool["verb"])
    verb_t = _pick(rng, topic_pool.get("verb_t", topic_pool["verb"]))
    has_mood, mood_consistent, has_energy, energy_consistent, has_filler = rng.random(5) < (
        MOOD_WORD_PROB, MOOD_WORD_CONSISTENCY, ENERGY_WORD_PROB, ENERGY_WORD_CONSISTENCY, FILLER_PROB)
    line_mood = mood if mood_consistent else ("calm" if mood == "tense" else "tense")
    line_energy = energy if energy_consistent else 1 - energy
    mood_adj = _pick(rng, pools["mood"][line_mood]["adj"])
    mood_verb = _pick(rng, pools["mood"][line_mood]["verb"])
    energy_word = _pick(rng, pools["energy"][line_energy])
    filler = _pick(rng, pools["filler"])
    neutral_adj, neutral_verb = _pick(rng, neutral["adj"]), _pick(rng, neutral["verb"])
    slots = {
        "p": _pick(rng, pools["pronoun"]), "n": noun, "n2": noun2, "v": verb, "vt": verb_t,
        "prep": _pick(rng, pools["prep"]) if "prep" in pools else "",
        "ma": mood_adj if has_mood else neutral_adj,
        "mv": mood_verb if has_mood else neutral_verb,
        "e": energy_word if has_energy else "",
    }
    text = template.format(**slots)
    if pools is EN:
        text = " ".join(text.replace(" ,", ",").split())
        if has_filler:
            text = f"{filler}, {text}"
    elif has_filler:
        text = f"{filler}，{text}"
    return text


def lyrics_of(spec, rng: np.random.Generator) -> Optional[str]:
    """The clip's lyrics, one line per lyric line, or None when ``spec.has_lyrics`` is False.

    Args:
      spec: a ClipSpec (uses has_lyrics, language, topic, lyrics_mood, energy).
      rng: the clip's lyrics stream (the dataset uses ``default_rng([seed, clip_index, 1])``).
    Returns:
      UTF-8 text, lines joined by "\\n", with a trailing newline.
    """
    if not spec.has_lyrics:
        return None
    pools, templates, neutral = (ZH, ZH_TEMPLATES, ZH_NEUTRAL) if spec.language == "zh" else \
        (EN, EN_TEMPLATES, EN_NEUTRAL)
    count = int(rng.integers(MIN_LINES, MAX_LINES + 1))
    lines = [_line(rng, pools, templates, neutral, spec.topic, spec.lyrics_mood, spec.energy)
             for _ in range(count)]
    if rng.random() < CHORUS_PROB:
        lines.append(lines[int(rng.integers(len(lines)))])
    return "\n".join(lines) + "\n"

"""Deterministic generator of realistic crisis-news articles for the benchmark and load tests.

`generate(n, seed=0, start=date)` returns `Article` models whose text mixes what the extractor
looks for: canonical and unknown actors (states, leaders, ministers, UN agencies, armed groups),
countable figures with hedges, change statements, rates, plans and baselines, relative and
explicit dates, and diplomatic events including negated ones, in bodies of 100 to 1,500 words.

Article `i` depends only on `(seed, i, start)`, so `generate(300)` is a prefix of
`generate(10_000)`; ids are `bench-s<seed>-<i>`. Only the standard library and the contract
models are imported, so tests can import this module cheaply.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from newsmon.core.models import Article

DEFAULT_START = dt.date(2023, 10, 16)
WAR_START = dt.date(2023, 10, 7)
MIN_WORDS = 100
MAX_WORDS = 1500
#: Minutes between consecutive articles (plus up to the same again of jitter): 10,000
#: articles span about 300 days, so every date stays in the past.
SPACING_MIN = 29

# --------------------------------------------------------------------------------------------
# The cast


@dataclass(frozen=True)
class State:
    name: str
    demonym: str
    capital: str
    short: str | None = None  # "the US"


@dataclass(frozen=True)
class Person:
    name: str
    title: str  # "Foreign Minister"
    of: str  # state name or organisation the title belongs to
    he: str = "he"

    @property
    def surname(self) -> str:
        return self.name.split()[-1]


@dataclass(frozen=True)
class Org:
    name: str
    short: str
    kind: str  # "agency" | "group" | "body"
    the: bool = False  # written "the <name>" ("the Houthis", "the World Food Programme")

    @property
    def full(self) -> str:
        return f"the {self.name}" if self.the else self.name


STATES = (
    State("United States", "US", "Washington", "the US"),
    State("Israel", "Israeli", "Jerusalem"),
    State("Turkey", "Turkish", "Ankara"),
    State("Iran", "Iranian", "Tehran"),
    State("Egypt", "Egyptian", "Cairo"),
    State("Qatar", "Qatari", "Doha"),
    State("Jordan", "Jordanian", "Amman"),
    State("Saudi Arabia", "Saudi", "Riyadh"),
    State("Lebanon", "Lebanese", "Beirut"),
    State("United Kingdom", "British", "London", "Britain"),
    State("France", "French", "Paris"),
    State("Germany", "German", "Berlin"),
    State("Russia", "Russian", "Moscow"),
    State("China", "Chinese", "Beijing"),
    State("South Africa", "South African", "Pretoria"),
    State("Iraq", "Iraqi", "Baghdad"),
    State("United Arab Emirates", "Emirati", "Abu Dhabi", "the UAE"),
    State("Bolivia", "Bolivian", "La Paz"),
    State("Colombia", "Colombian", "Bogotá"),
    State("Norway", "Norwegian", "Oslo"),
)
_STATE = {s.name: s for s in STATES}

PEOPLE = (
    Person("Antony Blinken", "Secretary of State", "United States"),
    Person("Lloyd Austin", "Defense Secretary", "United States"),
    Person("Jake Sullivan", "National Security Adviser", "United States"),
    Person("Benjamin Netanyahu", "Prime Minister", "Israel"),
    Person("Yoav Gallant", "Defence Minister", "Israel"),
    Person("Eli Cohen", "Foreign Minister", "Israel"),
    Person("Recep Tayyip Erdoğan", "President", "Turkey"),
    Person("Hakan Fidan", "Foreign Minister", "Turkey"),
    Person("Ebrahim Raisi", "President", "Iran"),
    Person("Hossein Amir-Abdollahian", "Foreign Minister", "Iran"),
    Person("Abdel Fattah el-Sisi", "President", "Egypt"),
    Person("Sameh Shoukry", "Foreign Minister", "Egypt"),
    Person("Mohammed bin Abdulrahman Al Thani", "Prime Minister", "Qatar"),
    Person("Ayman Safadi", "Foreign Minister", "Jordan"),
    Person("Faisal bin Farhan", "Foreign Minister", "Saudi Arabia"),
    Person("Najib Mikati", "Prime Minister", "Lebanon"),
    Person("Mohammed Shia al-Sudani", "Prime Minister", "Iraq"),
    Person("Sergei Lavrov", "Foreign Minister", "Russia"),
    Person("Catherine Colonna", "Foreign Minister", "France", "she"),
    Person("Annalena Baerbock", "Foreign Minister", "Germany", "she"),
    Person("David Cameron", "Foreign Secretary", "United Kingdom"),
    Person("Naledi Pandor", "Foreign Minister", "South Africa", "she"),
    Person("Mahmoud Abbas", "President", "Palestinian Authority"),
    Person("António Guterres", "Secretary-General", "United Nations"),
    Person("Martin Griffiths", "humanitarian chief", "United Nations"),
    Person("Philippe Lazzarini", "Commissioner-General", "UNRWA"),
    Person("Tedros Adhanom Ghebreyesus", "Director-General", "World Health Organization"),
    Person("Josep Borrell", "foreign policy chief", "European Union"),
    # Not in the catalogue: the extractor must keep them as unknown actors.
    Person("Farid al-Masri", "Deputy Foreign Minister", "Jordan"),
    Person("Lena Halvorsen", "special envoy", "Norway", "she"),
    Person("Omar Haddad", "spokesman", "Gaza Health Ministry"),
    Person("Yusuf Karaman", "Deputy Interior Minister", "Turkey"),
)

AGENCIES = (
    Org("United Nations", "the UN", "agency", the=True),
    Org("UNRWA", "UNRWA", "agency"),
    Org("World Food Programme", "the WFP", "agency", the=True),
    Org("UNICEF", "UNICEF", "agency"),
    Org("World Health Organization", "the WHO", "agency", the=True),
    Org("International Committee of the Red Cross", "the ICRC", "agency", the=True),
    Org("Palestine Red Crescent Society", "the Red Crescent", "agency", the=True),
    Org("Médecins Sans Frontières", "MSF", "agency"),
    Org("Gaza Health Ministry", "the health ministry in Gaza", "body", the=True),
    Org("COGAT", "COGAT", "body"),
    Org("Norwegian Refugee Council", "the Norwegian Refugee Council", "agency", the=True),
)
GROUPS = (
    Org("Hamas", "Hamas", "group"),
    Org("Hezbollah", "Hezbollah", "group"),
    Org("Palestinian Islamic Jihad", "Islamic Jihad", "group"),
    Org("Houthis", "the Houthis", "group", the=True),
    Org("Kataib Hezbollah", "Kataib Hezbollah", "group"),
    Org("Al-Qassam Brigades", "the Qassam Brigades", "group", the=True),
    Org("Liwa al-Ahrar", "Liwa al-Ahrar", "group"),  # unknown to the catalogue
)
BODIES = (
    Org("UN Security Council", "the Security Council", "body", the=True),
    Org("UN General Assembly", "the General Assembly", "body", the=True),
    Org("Arab League", "the Arab League", "body", the=True),
    Org("Organization of Islamic Cooperation", "the OIC", "body", the=True),
    Org("European Union", "the EU", "body", the=True),
    Org("Palestinian Authority", "the Palestinian Authority", "body", the=True),
)

PLACES = (
    "Gaza",
    "northern Gaza",
    "Gaza City",
    "Khan Younis",
    "Rafah",
    "Deir al-Balah",
    "Jabalia",
    "the West Bank",
    "Jenin",
    "southern Lebanon",
)
CROSSINGS = ("Rafah", "Kerem Shalom", "Allenby Bridge")
VENUES = (
    "Cairo",
    "Doha",
    "Amman",
    "Ankara",
    "Riyadh",
    "Geneva",
    "Brussels",
    "New York",
    "Paris",
    "Tel Aviv",
)
SOURCES = (
    ("Levant Wire", "levantwire.example"),
    ("Gulf Ledger", "gulfledger.example"),
    ("Nile Courier", "nilecourier.example"),
    ("Meridian News", "meridian-news.example"),
    ("Harbor Dispatch", "harbordispatch.example"),
    ("Atlas Daily", "atlasdaily.example"),
)

HEDGES = (
    "about ",
    "approximately ",
    "around ",
    "nearly ",
    "more than ",
    "at least ",
    "roughly ",
    "some ",
    "almost ",
    "fewer than ",
)
NUMBER_WORDS = {
    2: "two",
    3: "three",
    4: "four",
    5: "five",
    6: "six",
    7: "seven",
    8: "eight",
    9: "nine",
    10: "ten",
    12: "twelve",
    20: "twenty",
    50: "fifty",
}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
TOPICS = (
    "a humanitarian pause",
    "the release of hostages",
    "the opening of more crossings",
    "fuel deliveries to hospitals",
    "the evacuation of wounded civilians",
    "a lasting ceasefire",
    "the return of displaced families",
    "the reconstruction of water plants",
    "the protection of aid convoys",
    "a prisoner exchange",
)
WRONGS = (
    "violating the agreement on the transfer of injured civilians",
    "using hospitals as cover",
    "blocking aid convoys",
    "firing on civilians who were fleeing south",
    "breaking the truce within hours",
    "holding back fuel meant for hospitals",
    "obstructing the evacuation of foreign nationals",
    "war crimes",
)

# --------------------------------------------------------------------------------------------
# Small helpers


def _month_day(day: dt.date, rng: random.Random) -> str:
    style = rng.randrange(3)
    if style == 0:
        return f"{day.day} {MONTHS[day.month - 1]}"
    if style == 1:
        return f"{MONTHS[day.month - 1]} {day.day}"
    return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"


def _when(rng: random.Random, today: dt.date, back_max: int = 6) -> str:
    """A relative or explicit date phrase for a day on or before `today`."""
    back = rng.randint(0, back_max)
    day = today - dt.timedelta(days=back)
    r = rng.random()
    if back == 0:
        return rng.choice(("on " + WEEKDAYS[day.weekday()], "today", "earlier today"))
    if back == 1 and r < 0.4:
        return rng.choice(("yesterday", "on " + WEEKDAYS[day.weekday()] + " night"))
    if r < 0.5:
        return "on " + WEEKDAYS[day.weekday()] + rng.choice(("", "", " morning", " evening"))
    if r < 0.85:
        return "on " + _month_day(day, rng)
    return rng.choice(("last week", "earlier this week", "over the weekend", "the day before"))


def _count(rng: random.Random, low: int, high: int, words: bool = True) -> tuple[int, str]:
    """A count in [low, high] written as digits, with thousands separators, or in words."""
    n = rng.randint(low, high)
    if n >= 1000 and rng.random() < 0.85:
        n = round(n, -2 if n < 100_000 else -3)
    if words and n in NUMBER_WORDS and rng.random() < 0.6:
        return n, NUMBER_WORDS[n]
    return n, f"{n:,}"


def _hedge(rng: random.Random, p: float = 0.45) -> str:
    return rng.choice(HEDGES) if rng.random() < p else ""


def _titled(p: Person, rng: random.Random, first: bool) -> str:
    """'Turkish Foreign Minister Hakan Fidan', 'Fidan' or 'the Turkish Foreign Minister'."""
    state = _STATE.get(p.of)
    owner = state.demonym if state else p.of
    if first or rng.random() < 0.25:
        if state is None and rng.random() < 0.5:
            return f"{p.name}, the {owner} {p.title},"
        return f"{owner} {p.title} {p.name}"
    if rng.random() < 0.15 and state is not None:
        return f"the {owner} {p.title}"
    return p.surname


def _state_ref(s: State, rng: random.Random, as_government: bool = True) -> str:
    r = rng.random()
    if as_government and r < 0.2:
        return s.capital
    if s.short and r < 0.6:
        return s.short
    return s.name


def _cap(text: str) -> str:
    return text[0].upper() + text[1:] if text else text


class _Writer:
    """Builds one article: remembers who was introduced so later mentions are short."""

    def __init__(self, rng: random.Random, today: dt.date) -> None:
        self.rng = rng
        self.today = today
        self.seen: set[str] = set()
        self.used_background: set[int] = set()

    def person(self, pool: Sequence[Person] = PEOPLE) -> tuple[Person, str]:
        p = self.rng.choice(pool)
        ref = _titled(p, self.rng, p.name not in self.seen)
        self.seen.add(p.name)
        return p, ref

    def state(self, exclude: str | None = None, government: bool = True) -> tuple[State, str]:
        s = self.rng.choice([s for s in STATES if s.name != exclude])
        return s, _state_ref(s, self.rng, government)

    def org(self, pool: Sequence[Org]) -> str:
        o = self.rng.choice(pool)
        if o.name in self.seen:
            return o.short
        self.seen.add(o.name)
        return o.full

    def actor(self) -> str:
        """Any actor that can act diplomatically: a person, a state, a group or a body."""
        r = self.rng.random()
        if r < 0.5:
            return self.person()[1]
        if r < 0.8:
            return self.state()[1]
        if r < 0.9:
            return self.org(GROUPS)
        return self.org(BODIES)

    def when(self, back_max: int = 6) -> str:
        return _when(self.rng, self.today, back_max)

    # -- figures ------------------------------------------------------------------------------

    def figure(self) -> str:
        rng = self.rng
        h = _hedge(rng)
        place = rng.choice(PLACES[:7])
        crossing = rng.choice(CROSSINGS)
        claimant = self.org(AGENCIES)
        kind = rng.randrange(12)
        if kind == 0:
            _, n = _count(rng, 12, 240)
            return (
                f"{_cap(h + n)} aid trucks entered {place} through the {crossing} crossing "
                f"{self.when()}, according to {claimant}."
            )
        if kind == 1:
            _, n = _count(rng, 10_000, 250_000, words=False)
            return (
                f"{_cap(claimant)} said {h}{n} litres of fuel had been delivered to hospitals "
                f"in {place} {self.when()}."
            )
        if kind == 2:
            _, n = _count(rng, 2, 60)
            return (
                f"{_cap(h + n)} hostages were released {self.when()} and handed over to "
                f"{self.org(AGENCIES)}, officials said."
            )
        if kind == 3:
            _, n = _count(rng, 500, 30_000, words=False)
            since = max(WAR_START, self.today - dt.timedelta(days=rng.randint(20, 60)))
            return (
                f"{_cap(claimant)} said {h}{n} people had been killed in {place} since "
                f"{MONTHS[since.month - 1]} {since.day}, and many more were missing."
            )
        if kind == 4:
            millions = rng.choice(("1.7 million", "two million", "1.4 million", "1.9 million"))
            return (
                f"{_cap(h + millions)} people have been displaced across Gaza, "
                f"{claimant} said {self.when()}."
            )
        if kind == 5:
            _, n = _count(rng, 2, 40)
            return (
                f"{_cap(n)} ambulances were allowed to leave {place} through {crossing} "
                f"{self.when()} after a two-day closure of the crossing."
            )
        if kind == 6:
            _, n = _count(rng, 2, 12)
            return (
                f"Only {n} fuel trucks a day have been let in, which {claimant} called "
                f"far below what hospitals need."
            )
        if kind == 7:
            _, n = _count(rng, 100, 300, words=False)
            return (
                f"Under the arrangement, up to {n} trucks a day are expected to cross once "
                f"inspections at {crossing} are expanded."
            )
        if kind == 8:
            _, n = _count(rng, 300, 600, words=False)
            return f"Before the war, about {n} trucks a day entered Gaza, {claimant} said."
        if kind == 9:
            _, n = _count(rng, 5, 300)
            return (
                f"{_cap(h + n)} Palestinian prisoners were freed from Israeli jails "
                f"{self.when()} under the exchange."
            )
        if kind == 10:
            _, n = _count(rng, 50, 900, words=False)
            return (
                f"{_cap(claimant)} reported that {h}{n} wounded patients had been evacuated "
                f"to Egypt {self.when()}."
            )
        _, n = _count(rng, 1_000, 9_000, words=False)
        return (
            f"{_cap(h + n)} tonnes of food aid were waiting on the Egyptian side of the border "
            f"{self.when()}, {claimant} said."
        )

    def change(self) -> str:
        """A change statement: two figures on two dates, linked."""
        rng = self.rng
        first_day = self.today - dt.timedelta(days=rng.randint(2, 6))
        a = rng.randint(60, 200)
        b = max(2, int(a * rng.uniform(0.1, 0.8)))
        up = rng.random() < 0.3
        if up:
            a, b = b, a
        verb = (
            rng.choice(("rose", "increased", "climbed"))
            if up
            else rng.choice(("fell", "declined", "dropped", "plunged"))
        )
        thing = rng.choice(
            (
                "aid trucks entering Gaza",
                "trucks crossing at Rafah",
                "patients evacuated through Rafah",
                "fuel trucks reaching southern Gaza",
            )
        )
        later = rng.choice(
            (
                "in subsequent days",
                "by " + WEEKDAYS[self.today.weekday()],
                "on " + WEEKDAYS[(first_day + dt.timedelta(days=1)).weekday()],
            )
        )
        return (
            f"The number of {thing} {verb} from {a} on {WEEKDAYS[first_day.weekday()]} to "
            f"{_hedge(rng, 0.7)}{b} {later}."
        )

    # -- events -------------------------------------------------------------------------------

    def event(self) -> str:
        rng = self.rng
        kind = rng.randrange(16)
        when = self.when()
        if kind == 0:
            _, ref = self.person()
            venue, topic = rng.choice(VENUES), rng.choice(TOPICS)
            return f"{_cap(ref)} visited {venue} {when} for talks on {topic}."
        if kind == 1:
            _, a = self.person()
            _, b = self.person()
            return (
                f"{_cap(a)} met {b} in {rng.choice(VENUES)} {when} to discuss {rng.choice(TOPICS)}."
            )
        if kind == 2:
            _, a = self.person()
            _, b = self.person()
            return (
                f"{_cap(a)} is expected to meet {b} in {rng.choice(VENUES)} next week, "
                f"officials said."
            )
        if kind == 3:
            _, s = self.state()
            return f"{_cap(s)} accused {self.org(GROUPS)} of {rng.choice(WRONGS)}."
        if kind == 4:
            _, a = self.person()
            s, sref = self.state()
            return f"{_cap(a)} criticised {sref} {when} for {rng.choice(WRONGS)}."
        if kind == 5:
            g = self.org(GROUPS)
            s, sref = self.state()
            return (
                f"{_cap(g)} threatened to widen its attacks if {sref} pressed ahead with the "
                f"offensive, in a statement issued {when}."
            )
        if kind == 6:
            s1, a = self.state()
            s2 = self.rng.choice([s for s in STATES if s.name != s1.name])
            verb = rng.choice(
                (
                    "recalled its ambassador to",
                    "withdrew its ambassador from",
                    "expelled the ambassador of",
                    "suspended diplomatic ties with",
                )
            )
            return f"{_cap(a)} {verb} {_state_ref(s2, rng, False)} {when}."
        if kind == 7:
            s1, a = self.state()
            _, b = self.state(exclude=s1.name)
            return (
                f"{_cap(a)} and {b} signed an agreement on {rng.choice(TOPICS)} in "
                f"{rng.choice(VENUES)} {when}."
            )
        if kind == 8:
            g = self.org(GROUPS)
            days = rng.choice(("four-day", "three-day", "temporary", "unilateral"))
            return f"{_cap(g)} declared a {days} truce {when}, mediators said."
        if kind == 9:
            _, a = self.person()
            _, b = self.person()
            return f"{_cap(a)} urged {b} to allow {rng.choice(TOPICS)} {when}."
        if kind == 10:
            s1, a = self.state()
            s2 = self.rng.choice([s for s in STATES if s.name != s1.name])
            return (
                f"{_cap(a)} stopped short of severing relations with "
                f"{_state_ref(s2, rng, False)}, saying contacts would continue."
            )
        if kind == 11:
            _, a = self.state()
            return (
                f"{_cap(a)} refrained from recalling its ambassador, despite pressure from "
                f"opposition lawmakers."
            )
        if kind == 12:
            _, s = self.state()
            return (
                f"A proposal by {s} calling for a ceasefire was not adopted by the UN Security "
                f"Council {when}."
            )
        if kind == 13:
            _, a = self.person()
            _, s = self.state()
            return f"{_cap(a)} denied that {s} had threatened to cut off supplies."
        if kind == 14:
            _, s = self.state()
            _, millions = _count(rng, 10, 500, words=False)
            return (
                f"{_cap(s)} pledged ${millions} million in humanitarian aid to "
                f"{self.org(AGENCIES)} {when}."
            )
        _, a = self.person()
        s, sref = self.state()
        return f"{_cap(a)} condemned {sref} {when}, calling its actions unacceptable."

    # -- colour -------------------------------------------------------------------------------

    def background(self) -> str:
        """Context, colour and quotes; each template at most once per article while possible."""
        rng = self.rng
        unused = [k for k in range(len(_BACKGROUND)) if k not in self.used_background]
        if not unused:
            self.used_background.clear()
            unused = list(range(len(_BACKGROUND)))
        k = rng.choice(unused)
        self.used_background.add(k)
        return _BACKGROUND[k](self)

    def headline(self) -> str:
        rng = self.rng
        p = rng.choice(PEOPLE)
        return rng.choice(
            (
                f"{p.surname} presses for {rng.choice(TOPICS)} as aid to Gaza falls",
                f"Aid trucks into {rng.choice(PLACES[:7])} drop as talks stall",
                f"{rng.choice(STATES).name} recalls envoy amid row over Gaza",
                f"Mediators push for truce as {rng.choice(GROUPS).short} issues threats",
                f"{p.surname} meets regional leaders in {rng.choice(VENUES)}",
                f"UN warns of fuel shortage in {rng.choice(PLACES[:7])} hospitals",
            )
        )


def _quote(w: _Writer) -> str:
    _, ref = w.person()
    line = w.rng.choice(
        (
            "We cannot accept a situation in which civilians pay the price",
            "The world is watching, and history will judge how we respond",
            "There is no military solution to this crisis",
            "Every hour of delay costs lives",
            "We are working around the clock to get more aid in",
            "Our patience is not unlimited",
        )
    )
    return f'"{line}," {ref} told reporters in {w.rng.choice(VENUES)}.'


_BACKGROUND: tuple[Callable[[_Writer], str], ...] = (
    lambda w: (
        "The war began on October 7, when Hamas fighters attacked southern Israel, killing "
        "about 1,200 people and taking some 240 hostages, according to Israeli officials."
    ),
    lambda w: (
        f"Aid groups have warned for weeks that the water and sanitation system in "
        f"{w.rng.choice(PLACES)} is close to collapse."
    ),
    lambda w: (
        f"Diplomats said privately that the talks, mediated by {w.state()[1]} and "
        f"{w.state()[1]}, remained stuck over {w.rng.choice(TOPICS)}."
    ),
    lambda w: (
        f"Residents of {w.rng.choice(PLACES)} described long queues for bread and water, and "
        f"nights without electricity."
    ),
    _quote,
    _quote,
    lambda w: (
        "Analysts cautioned that any pause would be fragile and that both sides were "
        "preparing for a longer conflict."
    ),
    lambda w: (
        f"The crossing at {w.rng.choice(CROSSINGS)} was closed for several hours after shelling "
        f"nearby, delaying convoys that had waited since dawn."
    ),
    lambda w: (
        f"Hospitals in {w.rng.choice(PLACES)} said they were running generators for only a few "
        f"hours a day to save fuel."
    ),
    lambda w: (
        f"Speaking after the meeting, {w.person()[1]} said the discussions had been "
        f'"frank and constructive" but gave no details.'
    ),
    lambda w: (
        "Talks over four days produced no breakthrough, and officials said another round was "
        "planned for later in the month."
    ),
    lambda w: (
        f"Satellite images reviewed by independent researchers showed widespread damage to "
        f"residential blocks in {w.rng.choice(PLACES)}."
    ),
    lambda w: (
        f"Families sheltering in schools run by {w.org(AGENCIES)} said they had received "
        f"flour only once in the past week."
    ),
    lambda w: (
        "Protests calling for an end to the fighting were held in several European and Arab "
        "capitals over the weekend."
    ),
    lambda w: (
        f"Officials in {w.rng.choice(VENUES)} said a draft text was circulating among "
        f"delegations but that no vote had been scheduled."
    ),
    lambda w: (
        "Communications across the territory were cut for more than a day, hampering the "
        "work of rescuers and journalists."
    ),
    lambda w: (
        f"Shipping companies rerouted vessels away from the Red Sea after {w.org(GROUPS)} "
        f"claimed new attacks on merchant ships."
    ),
    lambda w: (
        "Oil prices rose briefly on fears that the conflict could spread, before easing in "
        "afternoon trading."
    ),
)


def _target_words(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.35:
        return rng.randint(MIN_WORDS, 300)
    if r < 0.8:
        return rng.randint(300, 800)
    return rng.randint(800, MAX_WORDS - 40)


def _body(w: _Writer) -> str:
    rng = w.rng
    target = _target_words(rng)
    paragraphs: list[str] = []
    words = 0
    lead = w.event()
    para = [lead]
    words += len(lead.split())
    kinds = ("event", "figure", "change", "background")
    weights = (0.32, 0.3, 0.08, 0.3)
    while words < target:
        kind = rng.choices(kinds, weights)[0]
        sentence = getattr(w, kind)()
        n = len(sentence.split())
        if words + n > MAX_WORDS:
            break
        para.append(sentence)
        words += n
        if len(para) >= rng.randint(2, 5):
            paragraphs.append(" ".join(para))
            para = []
    if para:
        paragraphs.append(" ".join(para))
    return "\n\n".join(paragraphs)


def article(index: int, seed: int = 0, start: dt.date = DEFAULT_START) -> Article:
    """The generator's article number `index` (depends only on seed, index and start)."""
    rng = random.Random(f"newsmon-bench:{seed}:{index}")
    base = dt.datetime.combine(start, dt.time(6, 0), tzinfo=dt.UTC)
    published = base + dt.timedelta(minutes=index * SPACING_MIN + rng.randrange(SPACING_MIN))
    w = _Writer(rng, published.date())
    body = _body(w)
    title = w.headline()
    source, domain = SOURCES[rng.randrange(len(SOURCES))]
    aid = f"bench-s{seed}-{index:06d}"
    return Article(
        id=aid,
        source=source,
        url=f"https://{domain}/{published:%Y/%m/%d}/{aid}",
        title=title,
        published_at=published,
        body=body,
        ingested_at=published + dt.timedelta(minutes=5),
    )


def iter_articles(n: int, seed: int = 0, start: dt.date = DEFAULT_START) -> Iterator[Article]:
    """`n` generated articles, lazily, in publication order."""
    for i in range(n):
        yield article(i, seed, start)


def generate(n: int, seed: int = 0, start: dt.date = DEFAULT_START) -> list[Article]:
    """`n` generated articles in publication order (deterministic for a seed and start)."""
    return list(iter_articles(n, seed, start))


def reidentify(articles: Iterable[Article], suffix: str) -> list[Article]:
    """The same articles under new ids (`<id>-<suffix>`), so deduplicating consumers redo them."""
    return [
        a.model_copy(update={"id": f"{a.id}-{suffix}", "url": f"{a.url}-{suffix}"})
        for a in articles
    ]


def to_jsonl(articles: Iterable[Article]) -> str:
    """Articles as JSON Lines (the ingester's JSONL input format)."""
    return "".join(a.model_dump_json() + "\n" for a in articles)


def write_jsonl(articles: Iterable[Article], path: Path | str) -> Path:
    """Write articles as JSON Lines to `path` (parents created); returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for a in articles:
            fh.write(a.model_dump_json())
            fh.write("\n")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.generator", description="Write generated articles as JSON Lines."
    )
    parser.add_argument("-n", "--articles", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=DEFAULT_START)
    parser.add_argument("-o", "--out", default="-", help="file to write, - for standard output")
    args = parser.parse_args(argv)
    articles = iter_articles(args.articles, args.seed, args.start)
    if args.out == "-":
        for a in articles:
            sys.stdout.write(a.model_dump_json() + "\n")
    else:
        write_jsonl(articles, args.out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

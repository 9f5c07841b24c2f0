"""Word pools and reference data the generators draw from.

Every string here ends up inside COPY text and, for some, inside JSON documents, so none may
contain a tab, newline, backslash or double quote; ``tests/test_demodata.py`` checks that.
Lists are written as text blocks (one entry per line, or words split on spaces) so the
module stays readable; the helpers below turn them into tuples.
"""

from __future__ import annotations


def _words(block: str) -> tuple[str, ...]:
    return tuple(block.split())


def _lines(block: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in block.strip().splitlines())


def _table(block: str) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(cell.strip() for cell in line.split("|")) for line in _lines(block))


# slug | name | weight as a primary genre | user rating offset | runtime offset (minutes)
_GENRE_ROWS = _table(
    """
    drama       | Drama           | 20  | 0.25  | 8
    comedy      | Comedy          | 13  | -0.25 | -8
    action      | Action          | 11  | -0.15 | 8
    thriller    | Thriller        | 8   | -0.05 | 0
    horror      | Horror          | 6   | -0.8  | -12
    romance     | Romance         | 6   | 0.0   | 0
    sci-fi      | Science Fiction | 5   | 0.05  | 10
    documentary | Documentary     | 5   | 0.45  | -15
    crime       | Crime           | 5   | 0.15  | 5
    animation   | Animation       | 4   | 0.35  | -15
    adventure   | Adventure       | 4   | 0.05  | 10
    fantasy     | Fantasy         | 3   | 0.0   | 12
    mystery     | Mystery         | 3   | 0.05  | 0
    family      | Family          | 3   | 0.1   | -10
    history     | History         | 2   | 0.3   | 20
    war         | War             | 1.5 | 0.35  | 20
    music       | Music           | 1.5 | 0.2   | 0
    western     | Western         | 1   | 0.1   | 5
    biography   | Biography       | 2   | 0.3   | 15
    """
)
GENRES: tuple[tuple[str, str, float, float, int], ...] = tuple(
    (slug, name, float(weight), float(offset), int(runtime))
    for slug, name, weight, offset, runtime in _GENRE_ROWS
)

# language | country | weight | region where its films stream most
_LANGUAGE_ROWS = _table(
    """
    English    | United States  | 44  | US
    English    | United Kingdom | 8   | UK
    English    | Canada         | 2   | CA
    English    | Australia      | 1.5 | AU
    Hindi      | India          | 11  | IN
    Tamil      | India          | 3   | IN
    Telugu     | India          | 3   | IN
    French     | France         | 5.5 | FR
    Japanese   | Japan          | 5   | JP
    Korean     | South Korea    | 4   | US
    Spanish    | Spain          | 3.5 | ES
    Spanish    | Mexico         | 2   | US
    German     | Germany        | 3   | DE
    Portuguese | Brazil         | 2   | BR
    Italian    | Italy          | 2   | FR
    """
)
# Title words of films in a language other than English.
_OWN_TITLE_WORDS = {
    row[0]: _words(row[1])
    for row in _table(
        """
        Hindi      | Dil Pyaar Safar Zindagi Dosti Kahaani Raaz Sapne Junoon Ishq Jung Raat
        Tamil      | Vettai Kaadhal Thalaivan Mudhal Nila Veeram Kathai Payanam
        Telugu     | Prema Yuddham Rajyam Kalam Vijaya Simham Aata Manasu
        French     | Nuit Silence Enfants Paris Étoile Mémoire Rivière L'Amour Soleil Hiver
        Japanese   | Yume Hikari Kaze Sakura Tsuki Hoshi Mirai Kokoro Umi
        Korean     | Sarang Haneul Bom Gil Sinbi Gyeoul Baram Chingu
        Spanish    | Casa Silencio Sombras Corazón Madrid Viaje Luna Niña Tierra Frontera
        German     | Nacht Weg Heimat Sturm Grenzland Schatten Berlin
        Portuguese | Saudade Cidade Mar Favela Carnaval
        Italian    | Dolce Notte Roma Silenzio Famiglia
        """
    )
}
LANGUAGES: tuple[tuple[str, str, float, str, tuple[str, ...]], ...] = tuple(
    (language, country, float(weight), region, _OWN_TITLE_WORDS.get(language, ()))
    for language, country, weight, region in _LANGUAGE_ROWS
)

REGIONS: tuple[str, ...] = _words("US UK IN CA AU DE FR JP BR ES")

# Price display strings per region, cheapest first: rentals use the first four, purchases
# the last four.
PRICES: dict[str, tuple[str, ...]] = {
    row[0]: _words(row[1])
    for row in _table(
        """
        US | $2.99 $3.99 $4.99 $5.99 $9.99 $12.99 $14.99 $19.99
        UK | £2.49 £3.49 £4.49 £4.99 £7.99 £9.99 £11.99 £13.99
        IN | ₹79 ₹99 ₹119 ₹149 ₹299 ₹399 ₹499 ₹690
        CA | CA$3.99 CA$4.99 CA$5.99 CA$6.99 CA$12.99 CA$14.99 CA$19.99 CA$24.99
        AU | A$3.99 A$4.99 A$5.99 A$6.99 A$14.99 A$19.99 A$24.99 A$29.99
        DE | €2.99 €3.99 €4.99 €5.99 €9.99 €11.99 €13.99 €16.99
        FR | €2.99 €3.99 €4.99 €5.99 €9.99 €11.99 €13.99 €16.99
        JP | ¥300 ¥400 ¥500 ¥550 ¥1,500 ¥2,000 ¥2,500 ¥3,000
        BR | R$9.90 R$11.90 R$14.90 R$19.90 R$29.90 R$39.90 R$49.90 R$59.90
        ES | €2.99 €3.99 €4.99 €5.99 €9.99 €11.99 €13.99 €16.99
        """
    )
}

# name | domain | offer types | regions ("*" = all) | catalogue weight | share of 4K offers.
# Regional gaps are deliberate: Hulu and Peacock are US-only, the Indian services stay in IN.
PLATFORMS: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...], float, float], ...] = tuple(
    (
        name,
        domain,
        _words(types),
        REGIONS if regions == "*" else _words(regions),
        float(w),
        float(k),
    )
    for name, domain, types, regions, w, k in _table(
        """
        Netflix | netflix.com | subscription | * | 10 | 0.35
        Prime Video | primevideo.com | subscription rent buy | * | 10 | 0.3
        Disney+ | disneyplus.com | subscription | US UK CA AU DE FR JP BR ES | 4 | 0.4
        Hulu | hulu.com | subscription | US JP | 3 | 0.15
        Max | max.com | subscription | US BR ES FR | 4 | 0.3
        Apple TV | tv.apple.com | rent buy | * | 7 | 0.5
        Google Play Movies | play.google.com | rent buy | US UK IN CA AU DE FR JP BR | 6 | 0.2
        Paramount+ | paramountplus.com | subscription | US UK CA AU DE FR BR | 2.5 | 0.2
        Peacock | peacocktv.com | subscription free | US | 2 | 0.1
        JioHotstar | jiohotstar.com | subscription free | IN | 4 | 0.15
        ZEE5 | zee5.com | subscription | IN | 2 | 0.05
        SonyLIV | sonyliv.com | subscription | IN | 1.5 | 0.05
        MUBI | mubi.com | subscription | US UK IN DE FR JP ES | 1 | 0.05
        Tubi | tubitv.com | free | US CA AU UK | 3 | 0.0
        Pluto TV | pluto.tv | free | US UK DE FR ES BR | 2 | 0.0
        """
    )
)

CONTENT_RATINGS: tuple[str, ...] = _words("G PG PG-13 R NC-17 NR U UA A")

TITLE_ADJECTIVES = _words(
    """
    Last Silent Broken Hidden Golden Dark Lost Crimson Final Burning Frozen Wild Secret
    Midnight Endless Forgotten Savage Electric Quiet Hollow Distant Bitter Restless Infinite
    Scarlet Fallen Little Great Iron Velvet Paper Glass Northern Eternal
    """
)
TITLE_NOUNS = _words(
    """
    Horizon River Kingdom Promise Shadow Storm Garden Empire Road Signal Witness Frontier
    Harbor Winter Summer Machine Island Prophecy Heist Orbit Mirror Symphony Circus Canyon
    Lighthouse Detective Inheritance Vendetta Echo Tide Dynasty Labyrinth Protocol Monsoon
    Outpost Carnival Reckoning Pilgrim Wolves Stranger Dream Voyage Citadel Alibi Sanctuary
    Comet Paradise Requiem Frequency
    """
)
TITLE_SUBTITLES = _lines(
    """
    The Reckoning
    A New Dawn
    Rise of the Fallen
    The Last Stand
    Homecoming
    Origins
    The Final Chapter
    Legacy
    """
)
SEQUEL_MARKS: tuple[str, ...] = (" 2", " 3", " II", " Returns", " Part Two", " 4")

FIRST_NAMES = _words(
    """
    James Maya Arjun Sofia Liam Aisha Kenji Elena Noah Priya Lucas Yuki Omar Chloe Ravi Ines
    Mateo Hana Daniel Zara Ethan Ananya Hugo Mei Samuel Lea Vikram Olivia Jonas Fatima Gabriel
    Sakura Rohan Emma Diego Nadia Felix Isabela Kabir Charlotte Min-jun Amélie Tom Deepika
    Marco Sara Hiroshi Grace Aditya Camille Ben Lakshmi Pablo Ji-woo Oscar Meera Leon Ruby
    """
)
LAST_NAMES = _words(
    """
    Carter Sharma Tanaka Rossi Müller Okafor Dubois Kim Patel García Nakamura Smith Iyer Silva
    Novak Bennett Khan Moreau Fischer Reddy Lopez Sato Walker Kapoor Costa Lindqvist Park
    O'Connor Menon Hughes Schmidt Fernández Yamamoto Chopra Laurent Ward Nair Ortega Becker
    Mehta Hayes Bianchi Choi Rao Murphy
    """
)
EMAIL_DOMAINS = _words("example.com mail.example iwm.example post.example inbox.example")
PASSWORDS = _words("demo-password-1 popcorn&chill cinephile-2026 red-carpet! matinee#42")
CHARACTER_ROLES = _words(
    "Detective Captain Dr. Agent Professor Inspector Sergeant Young Old Aunt Uncle Mrs. Mr. "
    "Officer Queen King Sister Father"
)

OVERVIEW_OPENINGS = _lines(
    """
    A reclusive archivist
    Two estranged siblings
    A small-town police officer
    A disgraced chess prodigy
    An ambitious young chef
    A retired astronaut
    A band of unlikely thieves
    A widowed fisherman
    A rookie journalist
    A cricket coach from Mumbai
    A grieving composer
    An android caretaker
    A legendary stuntman
    """
)
OVERVIEW_MIDDLES = _lines(
    """
    discovers a secret that could
    is forced to team up with an old rival to
    sets out across the country to
    must survive one long night to
    uncovers a conspiracy that threatens to
    returns home after twenty years to
    makes a desperate bargain to
    """
)
OVERVIEW_ENDINGS = _lines(
    """
    change the fate of an entire city.
    save the people they love.
    win back a stolen fortune.
    unravel the mystery of a vanished friend.
    prove their innocence before it is too late.
    bring a broken family together.
    stop a catastrophe nobody else can see coming.
    """
)
TAGLINES = _lines(
    """
    Some secrets never stay buried.
    The journey is the destination.
    Every hero has a beginning.
    Trust no one.
    Love finds a way.
    One night. One chance.
    The end is only the beginning.
    Fear has a new name.
    Based on a true story.
    Family is everything.
    """
)

# question | category | explanation; then the possible answers of each, ";"-separated.
_TRIVIA_ROWS = _table(
    """
    Where was it filmed? | production | Most exterior scenes were shot on location.
    How long did principal photography take? | production | Weather delays extended it.
    Which scene took the most takes? | behind-the-scenes | It was shot in one continuous take.
    Who composed the score? | music | The main theme came before the script was finished.
    Was any of it improvised? | cast | The cast rehearsed without the script.
    Did the film win any awards? | awards | It swept the season's critics' circle prizes.
    """
)
_TRIVIA_ANSWERS = _lines(
    """
    Iceland; Rajasthan; New Zealand; Morocco; Hokkaido; Scotland
    42 days; 68 days; 91 days; six months
    The opening chase; The rooftop dialogue; The final dance
    A debut composer; An orchestra of 90 players; A jazz trio
    Yes, the ending; Most of the banter; One famous line
    Best Picture; Best Original Score; Audience Award
    """
)
TRIVIA: tuple[tuple[str, str, tuple[str, ...], str], ...] = tuple(
    (question, category, tuple(a.strip() for a in answers.split(";")), explanation)
    for (question, category, explanation), answers in zip(
        _TRIVIA_ROWS, _TRIVIA_ANSWERS, strict=True
    )
)
# title | type | description of timeline events, in the order they happen.
TIMELINE_EVENTS: tuple[tuple[str, ...], ...] = _table(
    """
    Project Announced            | announcement | The studio confirmed the project at a press event
    Principal Photography Begins | production   | Filming started on location
    Principal Photography Wraps  | production   | The cast and crew completed filming
    First Trailer Released       | marketing    | The trailer premiered online
    World Premiere               | release      | The film premiered at an international festival
    Theatrical Release           | release      | The film opened in cinemas
    """
)

SCENE_TYPES = _words(
    "action dialogue chase fight musical emotional twist opening finale visual-effects"
)
SCENE_NOUNS = _lines(
    """
    Staircase Chase
    Rooftop Confession
    Train Heist
    Final Duel
    Opening Shot
    Rain Dance
    Courtroom Twist
    Desert Crossing
    Mirror Fight
    Interrogation
    Ballroom Waltz
    Long Take
    """
)
SCENE_DESCRIPTIONS = _lines(
    """
    A breathtaking sequence shot in a single take.
    The moment the story turns upside down.
    Fans still argue about what happens here.
    A masterclass in practical effects.
    The score and the images meet perfectly.
    Quiet, tense and unforgettable.
    """
)

# Review titles and sentences by sentiment (0 negative, 1 mixed, 2 positive).
_REVIEW_TITLE_ROWS = _table(
    """
    0 | Disappointing
    0 | Not for me
    0 | A missed opportunity
    0 | Overhyped
    0 | Skip it
    0 | Messy and dull
    1 | Decent enough
    1 | Mixed feelings
    1 | Good, not great
    1 | Worth a watch
    1 | Uneven but fun
    1 | Has its moments
    2 | A masterpiece
    2 | Loved every minute
    2 | Instant classic
    2 | Must watch
    2 | Pure cinema
    2 | Best film of the year
    """
)
_REVIEW_SENTENCE_ROWS = _table(
    """
    0 | The plot made very little sense.
    0 | The pacing dragged badly in the second half.
    0 | I could not connect with any of the characters.
    0 | The dialogue felt forced.
    0 | Even the action scenes were forgettable.
    0 | The ending undid everything before it.
    0 | It looked expensive but felt empty.
    0 | The twist was obvious from the first scene.
    1 | The lead performance carries a thin story.
    1 | Some scenes work, others do not.
    1 | It is well made but rarely surprising.
    1 | The middle stretch could lose twenty minutes.
    1 | The music is better than the script.
    1 | Fans of the genre will find enough to enjoy.
    1 | It never quite decides what it wants to be.
    1 | Beautiful to look at, uneven to watch.
    2 | The performances are outstanding across the board.
    2 | Every frame looks like a painting.
    2 | The score gave me chills.
    2 | It balances humour and heartbreak perfectly.
    2 | The final act is simply unforgettable.
    2 | I have already watched it twice.
    2 | The director is at the top of their game.
    2 | It stays with you long after the credits.
    """
)
REVIEW_TITLES: tuple[tuple[str, ...], ...] = tuple(
    tuple(text for level, text in _REVIEW_TITLE_ROWS if int(level) == sentiment)
    for sentiment in range(3)
)
REVIEW_SENTENCES: tuple[tuple[str, ...], ...] = tuple(
    tuple(text for level, text in _REVIEW_SENTENCE_ROWS if int(level) == sentiment)
    for sentiment in range(3)
)

COLLECTION_TITLES = _lines(
    """
    Weekend watchlist
    Comfort movies
    Mind-benders
    Rainy day classics
    Films that made me cry
    Best of the decade
    Hidden gems
    Date night
    Festival favourites
    Cult classics
    Family movie night
    Edge of your seat
    """
)
COLLECTION_DESCRIPTIONS = _lines(
    """
    My personal picks, updated every month.
    Films I recommend to everyone.
    Everything I want to rewatch this year.
    A list for friends who ask what to watch.
    """
)
COLLECTION_TAGS = _words(
    "classics noir feel-good bollywood anime thriller award-winners indie family sci-fi "
    "rewatchable underrated"
)

# Hashtags of pulses. Evergreen ones stay flat over time; burst ones crowd the last week
# before ``as_of``; fading ones peaked a month or two earlier. Spellings vary on purpose
# (case, a leading '#'): the trending refresh normalises them.
EVERGREEN_TAGS = _words(
    "#NowWatching movies #Cinema #FilmTwitter #Watchlist #MovieNight bollywood #Anime #Kdrama "
    "#Streaming #Review #Classic"
)
BURST_TAGS = _words("#FestivalSeason #TrailerDrop #BoxOfficeRecord #DirectorsCut #AwardsBuzz")
CRICKET_BURST_TAGS = _words("#WorldCupFinal #INDvAUS")
FADING_TAGS = _words("#SummerBlockbuster #MonsoonMovies #SequelWeek #HorrorMarathon")
CRICKET_FADING_TAGS = _words("#IPLFinal")
CRICKET_TAGS = _words("#Cricket #IPL #TestCricket #ENGvIND #T20WorldCup #Ashes")
CRICKET_MATCHES = _lines(
    """
    India vs Australia, 3rd Test
    England vs India, 1st ODI
    IPL Final
    T20 World Cup Semi-final
    The Ashes, 2nd Test
    Pakistan vs New Zealand, 2nd T20I
    South Africa vs Sri Lanka, 1st Test
    """
)
PULSE_OPENINGS = _lines(
    """
    Just watched
    Cannot stop thinking about
    Finally caught
    Rewatched
    Hot take on
    Who else loved
    Still processing
    Waiting all year for
    """
)
PULSE_SENTENCES = _lines(
    """
    What a ride!
    That ending though.
    The soundtrack is on repeat.
    Totally overrated, fight me.
    Best cast in years.
    Bring on the sequel.
    Cinema is back.
    Not what I expected at all.
    """
)
CRICKET_SENTENCES = _lines(
    """
    What a finish!
    That catch in the deep was unreal.
    Bowlers won this one.
    Greatest chase I have ever seen.
    Rain ruined a great contest.
    """
)
REACTIONS = _words("like love laugh wow sad")

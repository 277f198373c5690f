"""Data for language detection: chat words per language, marker characters, scripts.

Statistical models see too little in "gracias" or "tak" to decide, and they are easily pulled
off course by one brand or English loanword. These tables carry what a human router knows:
the short words customers type, the letters only some languages use, and which languages a
script can be. Everything here is lowercase (after Unicode NFKC). Words may be phrases of up to
three words ("dank je wel"); a word listed under several languages is ambiguous on its own.
"""

from __future__ import annotations

import unicodedata


def _words(text: str) -> frozenset[str]:
    """Comma-separated entries -> frozenset; keeps the tables readable."""
    return frozenset(w.strip() for w in text.split(",") if w.strip())


def _with_ascii(words: frozenset[str]) -> frozenset[str]:
    """Add each word typed without its diacritics ("nao", "dziekuje"), as customers often do."""
    folded = (
        unicodedata.normalize("NFKD", w.replace("ł", "l")).encode("ascii", "ignore").decode() for w in words
    )
    return words | frozenset(f for f in folded if f)


# English commerce/tech words that other languages borrow in chat ("saya mau refund",
# "mi order no llegó"). They count for English at reduced weight so they cannot outvote the
# customer's own words, but alone ("refund?") they still say English.
LOANWORDS: frozenset[str] = _words(
    "order, refund, tracking, delivery, invoice, login, account, password, email, e-mail, app,"
    " online, mail, voucher, promo, cashback, update, status, link, chat, shop, sorry, cancel, ticket,"
    " feedback, support, bug, admin, seller, review, sale, checkout, payment, cash, transfer"
)

# Words that carry no language: customers of every language type them.
UNIVERSAL: frozenset[str] = _words(
    "ok, okay, okey, okk, k, kk, hello, hi, hey, bye, lol, haha, hahaha, xd, hmm, hm, mm,"
    " wow, super, top, cool, nice, yo, yay, oh, ah, eh, uh, aha, oops"
)

# Chat words Croatian, Bosnian and Serbian share (see their SHORT_WORDS entries).
_BCS_SHARED = (
    "hvala, hvala vam, hvala puno, molim, molim vas, dobar dan, pozdrav, da, ne, je, sam, si, nije,"
    " nisam, moj, moja, moje, paket, paketa, pošiljka, pošiljku, račun, lozinka, novac, kada, zašto,"
    " kako, koliko, još, već, dobio, dobila, stigao, stigla, stiglo, poslali, vratiti, povrat, pomoć,"
    " mogu, možete, s, sa"
)

SHORT_WORDS: dict[str, frozenset[str]] = {
    "en": _words(
        "thx, thanks, thank you, thank u, thanks a lot, many thanks, ty, tysm, tyvm, thnx, tks,"
        " pls, plz, please, yes, yeah, yep, yup, nope, no, sure, of course, alright, all right,"
        " good morning, good afternoon, good evening, hi there, hey there, cheers, great,"
        " perfect, got it, sounds good, never mind, nvm, i, i'm, i've, i'd, me, my, mine, you,"
        " your, we, our, they, it, it's, is, are, was, were, be, been, the, a, an, and, or, but,"
        " not, isn't, hasn't, haven't, didn't, doesn't, don't, can't, won't, wasn't, still, yet,"
        " where, when, why, how, what, which, who, can, could, would, will, should, have, has,"
        " had, do, does, did, get, got, need, want, with, for, from, of, to, in, on, at, this,"
        " that, there, here, just, already, again, please help, help, any, anyone, arrived,"
        " received, shipped, charged, package, parcel, receipt, shipping, item, money, back,"
        " wrong, broken, missing, late, today, yesterday, week, number, change, address, hello"
        " there, thank, much, so, very, too, also, about, after, since, yes please, no thanks,"
        " ok thanks, ok thank you, thanks again,"
        " work, works, working, charge, charging, turn on, connect, come, came"
    )
    | LOANWORDS,
    "es": _with_ascii(
        _words(
            "gracias, muchas gracias, mil gracias, hola, buenas, buenos días, buenas tardes,"
            " buenas noches, por favor, porfa, porfavor, vale, claro, sí, de acuerdo, perfecto,"
            " genial, vale gracias, saludos, disculpe, disculpa, perdón, oiga, hasta luego,"
            " mi, mis, el, los, las, del, al, que, qué, y, o, con, sin, para, por, no, todavía,"
            " aún, ya, pero, muy, bien, también, nada, un, una, es, está, están, estoy, son,"
            " he, ha, han, hay, tengo, tiene, quiero, necesito, puedo, puede, pueden, puedes,"
            " dónde, cuándo, cómo, cuál, llegó, llega, llegado, recibido, recibí, pedido,"
            " pedidos, paquete, envío, factura, reembolso, devolución, pago, cobro, cuenta,"
            " contraseña, ayuda, ayudar, ayudarme, dinero, compra, hice, hoy, ayer, semana,"
            " nadie, me, le, lo, se, su, sus, este, esta, eso, esto, si, cuando, donde,"
            " porque, por qué, gracias de nuevo, buen día, chao, vale perfecto, dale,"
            " funciona, carga, enciende, prende, llega, sirve, conecta, viene, vino,"
            " cancelar, anular"
        )
    ),
    "pt": _with_ascii(
        _words(
            "obrigado, obrigada, muito obrigado, muito obrigada, obg, brigado, valeu, vlw, olá,"
            " oi, bom dia, boa tarde, boa noite, por favor, pfv, pf, sim, não, tá, beleza, tudo"
            " bem, combinado, perfeito, certo, meu, minha, meus, minhas, o, os, as, do, da, dos,"
            " das, um, uma, com, sem, em, na, nas, no, é, está, estou, são, foi, ainda, já, mas,"
            " muito, também, nada, chegou, chegar, recebi, recebido, encomenda, pedido, compra,"
            " fatura, nota fiscal, reembolso, estorno, devolução, pagamento, conta, senha,"
            " ajuda, ajudar, vocês, você, preciso, quero, posso, pode, podem, onde, quando,"
            " como, cadê, entrega, rastreio, código de rastreio, dinheiro, hoje, ontem, semana,"
            " ninguém, isso, isto, eu, ele, ela, porque, por que, boleto, pix, até, ao, pelo,"
            " pela, obrigadão,"
            " funciona, carrega, liga, conecta, veio, vem,"
            " cancelar"
        )
    ),
    "fr": _with_ascii(
        _words(
            "merci, merci beaucoup, merci bien, bonjour, bonsoir, salut, coucou, s'il vous"
            " plaît, s'il te plaît, svp, stp, oui, ouais, non, d'accord, dac, parfait, super"
            " merci, au revoir, bonne journée, je, j'ai, je suis, ma, mon, mes, le, la, les,"
            " des, du, au, aux, un, une, est, c'est, n'est, pas, ne, toujours, encore, déjà,"
            " mais, très, bien, aussi, rien, avec, pour, sans, dans, sur, où, quand, comment,"
            " pourquoi, quoi, vous, nous, il, elle, on, avez, pouvez, peux, veux, voudrais,"
            " commande, colis, livraison, livré, reçu, arrivé, remboursement, facture,"
            " paiement, compte, mot de passe, aide, aider, argent, aujourd'hui, hier,"
            " semaine, personne, ça, cela, ceci, car, parce que, qu'il, qu'est-ce, votre, vos,"
            " notre, moi, toi, été, fait, effectué,"
            " marche, fonctionne, charge, s'allume, arrive, vient,"
            " annuler, annulation"
        )
    ),
    "de": _words(
        "danke, danke schön, dankeschön, vielen dank, danke sehr, bitte, bitte schön, hallo,"
        " guten tag, guten morgen, guten abend, moin, servus, grüß gott, ja, nein, nee, jo,"
        " genau, alles klar, passt, super danke, tschüss, gerne, ich, mein, meine, meinen,"
        " meiner, ist, sind, war, nicht, noch, schon, kein, keine, keinen, die, der, das, den,"
        " dem, des, und, oder, aber, mit, für, bei, von, zu, zum, zur, auf, aus, wo, wann, wie,"
        " warum, was, welche, sie, wir, es, er, habe, hat, haben, kann, können, könnten,"
        " möchte, will, bestellung, paket, lieferung, sendung, rechnung, rückerstattung,"
        " erstattung, zahlung, konto, passwort, hilfe, helfen, geld, heute, gestern, woche,"
        " angekommen, bekommen, erhalten, geliefert, leider, immer noch, nichts, auch, sehr,"
        " ein, eine, einen, hier, jetzt, bis, wurde, worden, bezahlt, ihr, ihre, euch, uns,"
        " funktioniert, geht, lädt, startet, kommt, kam,"
        " stornieren, storniert, kündigen, gerne"
    ),
    "it": _words(
        "grazie, grazie mille, ciao, buongiorno, buonasera, salve, per favore, per piacere,"
        " sì, no, va bene, certo, perfetto, ok grazie, arrivederci, scusi, scusate, il, lo,"
        " gli, mio, mia, miei, mie, è, sono, non, ancora, già, ma, molto, bene, anche, niente,"
        " con, per, senza, una, un, uno, del, della, dei, delle, nel, nella, che, cosa, dove,"
        " quando, come, perché, ho, ha, hanno, avete, potete, può, posso, vorrei, voglio,"
        " ordine, pacco, spedizione, consegna, consegnato, arrivato, ricevuto, rimborso,"
        " fattura, pagamento, conto, aiuto, aiutare, aiutarmi, soldi, oggi, ieri, settimana,"
        " nessuno, questo, questa, quello, mi, ci, si, vi, di, da, in, su, sempre, qualcuno,"
        " funziona, carica, accende, arriva, collega, viene,"
        " annullare, cancellare, disdire"
    ),
    "nl": _words(
        "dank je, dank je wel, dankjewel, dank u, dank u wel, bedankt, hartelijk dank, hoi,"
        " hallo, goedemorgen, goedemiddag, goedenavond, alsjeblieft, alstublieft, ja, nee,"
        " oké, prima, graag, doei, groetjes, ik, mijn, is, zijn, was, niet, nog, nog steeds,"
        " al, geen, de, het, een, en, of, maar, met, voor, van, op, aan, bij, naar, uit,"
        " waar, wanneer, hoe, waarom, wat, welke, jullie, u, je, we, wij, heb, hebt, heeft,"
        " hebben, kan, kunt, kunnen, wil, wilt, zou, bestelling, pakket, pakketje, levering,"
        " bezorging, bezorgd, ontvangen, aangekomen, terugbetaling, geld terug, factuur,"
        " betaling, wachtwoord, hulp, helpen, geld, vandaag, gisteren, week, niks, niets,"
        " ook, erg, heel, dit, dat, er, hier, nu, nou, even, mag, moet, wordt, geworden,"
        " werkt, laadt, gaat, doet, komt, kwam,"
        " annuleren, opzeggen"
    ),
    "ru": _words(
        "спасибо, спс, большое спасибо, привет, здравствуйте, здрасте, добрый день, доброе"
        " утро, добрый вечер, пожалуйста, пж, да, нет, хорошо, ладно, понятно,"
        " конечно, мой, моя, моё, мое, мои, меня, мне, я, вы, вас, вам, это, что, и, а, но,"
        " или, с, в, на, по, за, из, к, у, не, ещё, еще, уже, где, когда, как, почему, зачем,"
        " кто, есть, нет ещё, был, была, было, заказ, заказа, посылка, посылку, доставка,"
        " возврат, возврат денег, счёт, счет, оплата, аккаунт, пароль, помощь, помочь,"
        " помогите, можете, могу, хочу, нужно, пришёл, пришел, пришла, получил, получила,"
        " деньги, сегодня, вчера, неделю, до, сих, пор, всё, все, очень, тоже, только,"
        " работает, заряжается, включается, приходит,"
        " отменить, отмена"
    ),
    "uk": _words(
        "дякую, дуже дякую, дякс, привіт, вітаю, добрий день, доброго дня, добрий вечір, будь"
        " ласка, так, ні, добре, гаразд, зрозуміло, звісно, мій, моя, моє, мої, мене, мені,"
        " я, ви, вас, вам, це, що, і, й, а, але, або, з, в, у, на, по, за, із, до, не, ще,"
        " вже, де, коли, як, чому, навіщо, хто, є, був, була, було, замовлення, посилка,"
        " посилку, доставка, повернення, повернення коштів, рахунок, оплата, акаунт, пароль,"
        " допомога, допомогти, допоможіть, можете, можу, хочу, потрібно, треба, прийшло,"
        " прийшла, отримав, отримала, гроші, кошти, сьогодні, вчора, тиждень, досі, все,"
        " дуже, теж, також, тільки,"
        " працює, заряджається, вмикається, приходить,"
        " скасувати, скасування"
    ),
    "pl": _with_ascii(
        _words(
            "dzięki, dziękuję, dziękuje, dzięki wielkie, bardzo dziękuję, cześć, dzień dobry,"
            " dobry wieczór, witam, hej, proszę, tak, nie, dobrze, jasne, spoko, super dzięki,"
            " pozdrawiam, do widzenia, mój, moja, moje, moim, mi, mnie, ja, jest, są, był,"
            " była, było, jeszcze, już, nadal, ale, albo, i, w, we, z, ze, na, do, od, po, za,"
            " o, się, nie ma, gdzie, kiedy, jak, dlaczego, czemu, co, czy, mam, ma, macie,"
            " możecie, mogę, może, chcę, chciałbym, chciałabym, potrzebuję, zamówienie,"
            " zamówienia, paczka, paczki, przesyłka, przesyłki, dostawa, zwrot, zwrot"
            " pieniędzy, faktura, fakturę, płatność, konto, hasło, pomoc, pomóc, pieniądze,"
            " dzisiaj, dziś, wczoraj, tydzień, dotarła, dotarło, doszła, otrzymałem,"
            " otrzymałam, nic, też, bardzo, tylko, to, ten, ta, państwo,"
            " działa, ładuje, włącza, przyszła, przyszedł, przyszło,"
            " anulować, anulowanie"
        )
    ),
    "sk": _with_ascii(
        _words(
            "ďakujem, vďaka, dobrý večer, ahoj, prosím, áno, nie, jasné, v poriadku, dovidenia,"
            " môj, moja, moje, mi, ja, je, sú, som, bol, bola, bolo, nie je, ešte, už, stále, ale, alebo,"
            " a, v, vo, s, so, z, na, do, od, po, za, o, kde, kedy, ako, prečo, čo, mám, má, máte, môžete,"
            " môžem, chcem, potrebujem, objednávka, objednávku, objednávky, balík, balíček, zásielka,"
            " zásielku, doručenie, vrátenie peňazí, faktúra, faktúru, platba, platbu, účet, heslo, pomoc,"
            " pomôcť, peniaze, dnes, včera"
        )
    ),
    # Croatian, Bosnian and Serbian share most chat words: each lists them, so that they count
    # against other languages and cancel among the three (SIBLING_WORDS tells them apart).
    "hr": _with_ascii(_words(_BCS_SHARED + ", bok, bog")),
    "bs": _with_ascii(_words(_BCS_SHARED + ", zdravo, selam")),
    "sr": _with_ascii(_words(_BCS_SHARED + ", zdravo, ћао, хвала, молим, здраво, добар дан")),
    "gl": _with_ascii(
        _words(
            "ola, grazas, moitas grazas, bo día, boa tarde, boas noites, si, non, por favor, onde, está,"
            " a miña, o meu, encomenda, pedido, axuda, cartos, conta, semana, días, xa, aínda"
        )
    ),
    "sl": _with_ascii(
        _words(
            "hvala, najlepša hvala, prosim, dober dan, živijo, kje, kdaj, zakaj, kako, koliko, moj, moja,"
            " moje, paket, pošiljka, naročilo, naročila, še, že, ni, nisem, prejel, prejela, denar,"
            " vračilo, je"
        )
    ),
    "lt": _with_ascii(
        _words(
            "ačiū, labai ačiū, prašau, laba diena, sveiki, kur, kada, kodėl, kaip, mano, siuntinys,"
            " užsakymas, užsakymo, dar, jau, ne, negavau, pinigai, grąžinti"
        )
    ),
    "lv": _with_ascii(
        _words(
            "paldies, liels paldies, lūdzu, labdien, sveiki, kur, kad, kāpēc, kā, mans, mana, paka, sūtījums,"
            " pasūtījums, pasūtījumu, vēl, jau, nav, neesmu, saņēmu, nauda, atmaksa"
        )
    ),
    "et": _with_ascii(
        _words(
            "aitäh, tänan, palun, tere, tere päevast, kus, millal, miks, kuidas, minu, mu, pakk, pakki,"
            " tellimus, tellimust, veel, juba, ei, pole, saanud, raha, tagasi"
        )
    ),
    "is": _words(
        # Not a lone "takk": Norwegian's far more often, and Icelanders write "takk fyrir" too.
        "takk fyrir, kærar þakkir, vinsamlegast, góðan dag, halló, hvar, hvenær, hvers vegna, af"
        " hverju, hvernig, minn, mín, mitt, pakkinn, pöntun, pöntunin, er, ekki, enn, komin, kominn,"
        " peningar, endurgreiðsla"
    ),
    # Devanagari is Hindi, Marathi and Nepali: shared words ("धन्यवाद", "ऑर्डर") cancel out,
    # these tell them apart.
    "mr": _words(
        "खूप, खूप धन्यवाद, माझी, माझा, माझे, कुठे, आहे, आहेत, नाही, मी, केले, केली, होते, होती, आणि,"
        " पण, अजून, किती, वाजता, कधी, का, कसे, तुम्ही, ऑर्डर, परत, मदत, धन्यवाद, नमस्कार"
    ),
    "ne": _words(
        "धेरै, धेरै धन्यवाद, मेरो, कहाँ, छ, छैन, छन्, गर्न, गरेको, सकिनँ, हुन्छ, थियो, थिएँ, तर, अझै,"
        " कति, कहिले, किन, कसरी, तपाईं, अर्डर, पैसा, फिर्ता, मद्दत, धन्यवाद, नमस्ते"
    ),
    "bg": _words(
        "здравейте, благодаря, благодаря много, мерси, моля, къде, кога, защо, какво, как, колко, моята,"
        " моят, моя, поръчка, поръчката, поръчах, пратка, пратката, още, не са, не е, пристигнала,"
        " пристигнали, забравих, паролата, не мога, магазинът, магазина, работи, върнете, парите, сметка"
    ),
    "mk": _words(
        "благодарам, фала, здраво, ве молам, каде, кога, зошто, што, како, колку, мојата, мојот, нарачка,"
        " нарачката, нарачав, пратка, уште, не е, стигна, пристигна, заборавив, лозинка, продавницата,"
        " работи, парите, сметка"
    ),
    "kk": _words(
        "рақмет, көп рақмет, сәлеметсіз бе, сәлем, тапсырыс, тапсырысым, қайда, қашан, неге, қалай, менің,"
        " әлі, келмеді, ақша, қайтару, құпия сөз, өтінемін"
    ),
    "ky": _words(
        "рахмат, чоң рахмат, саламатсызбы, салам, буйрутма, буйрутмам, кайда, качан, эмне үчүн, кантип,"
        " менин, али, келген жок, акча, кайтаруу, сураныч"
    ),
    "mn": _words(
        "баярлалаа, их баярлалаа, сайн байна уу, захиалга, захиалгаа, хаана, хэзээ, яагаад, яаж, миний,"
        " одоо болтол, ирээгүй, мөнгө, буцаах, нууц үг"
    ),
    "az": _words(
        "təşəkkür, təşəkkürlər, çox sağ olun, sağ olun, salam, zəhmət olmasa, xahiş edirəm, harada,"
        " haradadır, sifariş, sifarişim, sifarişi, nə vaxt, niyə, necə, mənim, hələ, gəlməyib, pul,"
        " qaytarmaq, şifrə, mağaza"
    ),
    "uz": _words(
        "rahmat, katta rahmat, assalomu alaykum, salom, iltimos, buyurtma, buyurtmam, buyurtmani,"
        " qayerda, qachon, nega, qanday, mening, hali, kelmadi, pul, qaytarish, parol, do'kon"
    ),
    "af": _words(
        "dankie, baie dankie, asseblief, goeie môre, goeie middag, ek, het, nie, is, pakkie, wagwoord,"
        " bestelling, wanneer, hoekom, hoe laat, waar, nog nie, aangekom, gelede, kan nie, geld,"
        " terugbetaling"
    ),
    "ca": _words(
        "gràcies, moltes gràcies, si us plau, bon dia, bona tarda, adéu, on és, on està, quan, per què,"
        " com, encara, comanda, la comanda, contrasenya, he oblidat, no puc, compte, botiga, diners,"
        " devolució, avui, ahir, setmana, també, però, amb, fins, quina, quin"
    ),
    "zu": _words(
        "ngiyabonga, ngiyabonga kakhulu, sawubona, sanibonani, yami, wami, kodwa, angikwazi, iphi,"
        " nini, kungani, kanjani, imali, ngicela, ngi"
    ),
    "xh": _words(
        "enkosi, enkosi kakhulu, molo, molweni, yam, wam, kodwa, andikwazi, iphi, nini, kutheni,"
        " njani, imali, ndicela, ndi, ivenkile"
    ),
    "so": _words(
        "mahadsanid, mahadsanid aad, iska warran, salaan, fadlan, dalabka, dalabkayga, dalabkaygu, xaggee,"
        " halkee, goorma, maxay, sidee, lacagta, lacag, weli, ma iman, ma helin"
    ),
    "ha": _words(
        "na gode, nagode, sannu, don allah, ina, kayana, kayan, yaushe, me yasa, yaya, kuɗi, kudi, oda,"
        " odar, har yanzu, ban samu ba, bai zo ba"
    ),
    "yo": _words(
        "ẹ ṣé, e se, o ṣeun, o seun, ẹ ku aarọ, e ku aaro, ẹ kaasan, nibo, nigbawo, kilode, bawo, owo,"
        " ọja, mi o, ko tii, jọwọ, jowo"
    ),
    "tl": _words(
        "salamat, salamat po, maraming salamat, po, opo, kumusta, paano, bakit, saan, nasaan, kailan,"
        " hindi, wala, pa, na po, ko, ang, ng, mga, ako, kayo, ninyo, sana, naman, lang, din, rin, ba,"
        " magandang umaga, magandang hapon, pasensya, padala, bayad, pera"
    ),
    "sw": _words(
        "asante, asante sana, habari, jambo, karibu, ndiyo, hapana, tafadhali, wapi, lini, kwa nini,"
        " yangu, wangu, bado, pesa, msaada, naomba, nimelipa, mzigo, haijafika, sijapata"
    ),
    "cs": _with_ascii(
        _words(
            "děkuji, děkuju, díky, moc děkuji, dobrý den, dobrý večer, ahoj, zdravím, prosím,"
            " ano, ne, jo, dobře, jasně, v pořádku, na shledanou, můj, moje, moji, mě, mi, já,"
            " je, jsou, jsem, byl, byla, bylo, není, ještě, už, stále, pořád, ale, nebo, a, v,"
            " ve, s, se, z, na, do, od, po, za, o, kde, kdy, jak, proč, co, mám, má, máte,"
            " můžete, mohu, můžu, chci, potřebuji, potřebuju, objednávka, objednávku,"
            " objednávky, balík, balíček, zásilka, zásilku, doručení, vrácení peněz, faktura,"
            " fakturu, platba, platbu, účet, heslo, pomoc, pomoct, pomoci, peníze, dnes, včera,"
            " týden, dorazila, dorazil, nedorazila, nedorazil, přišla, nepřišla, nic, taky,"
            " také, velmi, jen, jenom, to, ten, ta, vám, vás, bych,"
            " funguje, nefunguje, nabíjí, zapne, nejde, přišel,"
            " zrušit, zrušení"
        )
    ),
    "sv": _words(
        "tack, tack så mycket, tusen tack, stort tack, tackar, hej, hejsan, tjena, god"
        " morgon, snälla, ja, nej, okej, japp, nä, jag, min, mitt, mina, mig, är, var, inte,"
        " ännu, fortfarande, redan, har, hade, och, eller, men, med, för, på, i, av, till,"
        " från, om, det, den, en, ett, de, vi, ni, du, er, hur, när, varför, vad, vilken,"
        " kan, kunna, vill, skulle, behöver, beställning, beställningen, paket, paketet,"
        " leverans, leveransen, återbetalning, pengarna tillbaka, faktura, fakturan,"
        " betalning, betalningen, lösenord, hjälp, hjälpa, pengar, idag, i dag, igår, i går,"
        " vecka, kommit, fått, inget, ingen, också, mycket, bara, hälsningar, mvh, här,"
        " någon, något, ska, blev, ändra, ändrat, köpa, köpt, efter, nu, gör, gjorde, fungerar,"
        " laddar, startar,"
        " blivit, belopp, längre, mer, några, fråga, tillbaka,"
        " avbryta, avboka, gärna"
    ),
    "da": _words(
        "tak, mange tak, tusind tak, tak skal du have, hej, hejsa, godmorgen, god morgen,"
        " goddag, ja, nej, jeg, min, mit, mine, mig, er, var, ikke, endnu, stadig, allerede,"
        " har, havde, og, eller, men, med, for, på, i, af, til, fra, om, det, den, en, et,"
        " de, vi, i kan, du, hvordan, hvornår, hvorfor, hvad, hvilken, hvor, kan, kunne,"
        " vil, skulle, skal, behøver, bestilling, bestillingen, ordre, ordren, pakke,"
        " pakken, levering, leveringen, refusion, tilbagebetaling, pengene tilbage,"
        " faktura, fakturaen, betaling, betalingen, adgangskode, kodeord, hjælp, hjælpe,"
        " penge, i dag, i går, uge, modtaget, kommet, fået, intet, ingen, også, meget, kun,"
        " venlig hilsen, mvh, her, nogen, noget, blev, jer, bare, ændre, ændret, købe, købt,"
        " efter, nu, gør, gjorde, virker, lader, tænder,"
        " blevet, beløb, beløbet, længere, mere, nogle, spørgsmål, tilbage,"
        " annullere, afbestille, gerne"
    ),
    "no": _words(
        "takk, tusen takk, mange takk, takk skal du ha, hei, heisann, god morgen, ja, nei,"
        " jeg, eg, min, mitt, mine, meg, er, var, ikke, ikkje, ennå, enda, fortsatt, allerede,"
        " har, hadde, og, eller, men, med, for, på, i, av, til, fra, frå, om, det, den, en,"
        " et, de, vi, dere, du, hvordan, korleis, når, hvorfor, kvifor, hva, kva, hvilken,"
        " hvor, kor, kan, kunne, vil, skulle, skal, trenger, bestilling, bestillingen,"
        " ordre, ordren, pakke, pakken, levering, leveringen, refusjon, tilbakebetaling,"
        " pengene tilbake, faktura, fakturaen, betaling, betalingen, passord, hjelp, hjelpe,"
        " penger, i dag, i går, uke, mottatt, kommet, fått, ingenting, ingen, også, mye,"
        " veldig, bare, hilsen, mvh, her, noen, noe, ble, endre, endret, kjøpe, kjøpt, etter,"
        " nå, gjør, gjorde, virker, lader, skrur,"
        " blitt, beløp, beløpet, lenger, mer, noen, spørsmål, tilbake,"
        " kansellere, avbestille, gjerne"
    ),
    "fi": _words(
        "kiitos, kiitti, kiitos paljon, kiitoksia, moi, moikka, hei, terve, hyvää päivää,"
        " huomenta, kyllä, joo, juu, ei, okei, selvä, minun, minä, mä, mun, sinun, te, teidän,"
        " on, ole, oli, ei ole, vielä, jo, edelleen, mutta, tai, ja, kanssa, missä, milloin,"
        " miten, miksi, mitä, mikä, voi, voitteko, voisitteko, voitko, haluan, haluaisin,"
        " tarvitsen, tilaus, tilaukseni, tilausta, paketti, pakettini, pakettia, toimitus,"
        " palautus, hyvitys, rahat takaisin, lasku, laskun, maksu, maksun, tili, salasana,"
        " apua, auttaa, rahaa, tänään, eilen, viikko, saapunut, tullut, saanut, mitään,"
        " myös, paljon, vain, ystävällisin terveisin, terveisin, se, tämä, että, kun,"
        " toimi, toimii, lataa, käynnisty, käynnistyy,"
        " peruuttaa, peruutus"
    ),
    "tr": _with_ascii(
        _words(
            "teşekkürler, teşekkür ederim, çok teşekkürler, sağol, sağ ol, sağolun, tşk, tşkler,"
            " merhaba, selam, günaydın, iyi günler, iyi akşamlar, lütfen, evet, hayır, tamam,"
            " olur, peki, tabii, tabi, benim, bana, beni, ben, siz, size, sizin, bu, şu, o, ve,"
            " veya, ama, ile, için, bir, da, de, mi, mı, mu, mü, hala, hâlâ, henüz, zaten,"
            " nerede, ne zaman, nasıl, neden, niye, ne, var, yok, siparişim, sipariş,"
            " siparişimi, kargo, kargom, kargoya, teslimat, iade, para iadesi, fatura,"
            " faturamı, ödeme, ödemem, hesap, hesabım, şifre, şifremi, yardım, yardımcı,"
            " istiyorum, lazım, gelmedi, ulaşmadı, almadım, aldım, geldi, para, bugün, dün,"
            " hafta, hiç, çok, sadece, yine, hâlâ gelmedi, olabilir, musunuz, misiniz,"
            " çalışmıyor, çalışıyor, şarj olmuyor, açılmıyor, bağlanmıyor,"
            " iptal, iptal etmek"
        )
    ),
    "ro": _with_ascii(
        _words(
            "mulțumesc, mulţumesc, mulțumesc frumos, mersi, mersi mult, bună, bună ziua, bună"
            " seara, salut, vă rog, te rog, da, nu, bine, sigur, desigur, perfect, la revedere,"
            " o zi bună, eu, meu, mea, mei, mele, mi, mie, este, e, sunt, am, ați, a fost, încă,"
            " deja, dar, sau, și, şi, cu, pentru, pe, la, în, din, de la, unde, când, cum, de"
            " ce, ce, care, puteți, puteţi, pot, vreau, aș vrea, am nevoie, comanda, comandă,"
            " comanda mea, coletul, colet, livrare, livrarea, rambursare, banii înapoi,"
            " factura, factură, plata, plată, cont, contul, parola, ajutor, ajutați, bani,"
            " azi, astăzi, ieri, săptămână, ajuns, primit, nimic, nici, și eu, foarte, doar,"
            " acest, această, asta, acum, nu a ajuns, nu am primit,"
            " funcționează, merge, încarcă, pornește, vine, venit,"
            " anula, anulez, anulați"
        )
    ),
    "hu": _with_ascii(
        _words(
            "köszönöm, köszi, kösz, köszönöm szépen, nagyon köszönöm, szia, sziasztok, hello"
            " szia, jó napot, jó napot kívánok, jó estét, üdv, üdvözlettel, kérem, kérlek,"
            " igen, nem, rendben, persze, jó, az, a, egy, és, vagy, de, hogy, még, már, mindig,"
            " nem érkezett meg, van, nincs, volt, vagyok, én, ön, önök, maguk, hol, mikor,"
            " hogyan, miért, mi, mit, melyik, tudnak, tudna, tudnának, szeretném, szeretnék,"
            " kell, rendelés, rendelésem, rendelést, csomag, csomagom, csomagot, szállítás,"
            " kiszállítás, visszatérítés, pénz vissza, számla, számlát, számlámat, fizetés,"
            " fiók, jelszó, jelszavam, segítség, segíteni, pénz, ma, tegnap, hét, megérkezett,"
            " kaptam, semmit, is, nagyon, csak, ez, ezt, azt, meg, nekem, engem, sem,"
            " működik, tölt, bekapcsol, jön, jött,"
            " lemondani, törölni"
        )
    ),
    "vi": _words(
        "cảm ơn, cám ơn, cảm ơn bạn, cảm ơn nhiều, cảm ơn ạ, cam on, xin chào, chào, chào bạn,"
        " xin chao, dạ, vâng, ạ, ừ, ok ạ, không, ko, có, được, được không, đơn hàng, don hang,"
        " đơn, hàng, của, cua, tôi, toi, mình, em, anh, chị, bạn, chưa, đã, rồi, sẽ, đang,"
        " nhận, nhận được, giao, giao hàng, hoàn tiền, hóa đơn, hoá đơn, thanh toán, tài khoản,"
        " mật khẩu, giúp, giúp đỡ, hỗ trợ, ở đâu, đâu, khi nào, bao giờ, tại sao, sao, gì,"
        " và, với, cho, là, nhé, nha, ạ, vẫn, tiền, hôm nay, hôm qua, tuần, vậy, này, đó, thì,"
        " muốn, cần, làm, bị, lỗi,"
        " hủy, huỷ, hủy đơn"
    ),
    "id": _words(
        "terima kasih, makasih, trims, trimakasih, thx kak, halo, hai, selamat pagi, selamat"
        " siang, selamat sore, selamat malam, tolong, mohon, ya, iya, tidak, nggak, gak, ga,"
        " enggak, ngga, engga, belum, sudah, udah, saya, aku, kamu, anda, kak, gan, min, sis,"
        " pesanan, pesanan saya, paket, paketnya, pengiriman, pengembalian dana, uang, uangnya,"
        " faktur, tagihan, pembayaran, akun, kata sandi, bantuan, bantu, dibantu, bisa, mau,"
        " ingin, perlu, dimana, di mana, kapan, bagaimana, gimana, kenapa, mengapa, apa, dan,"
        " atau, tapi, dengan, untuk, yang, ini, itu, sampai, datang, kok, dong, sih, deh, nih,"
        " tuh, aja, saja, juga, sekali, banget, hari ini, kemarin, minggu, mobil, gratis,"
        " sudah sampai, belum sampai, belum datang, ada, tidak ada, di, ke, dari, pada,"
        " berfungsi, nyala, rusak, ngecas, jalan,"
        " saldo, ongkir, kurir, kirim, dikirim, karena, kembalikan, ganti, sekarang,"
        " batalkan, pembatalan"
    ),
    "ms": _words(
        "terima kasih, terima kasih banyak, tq, tqvm, ribuan terima kasih, helo, hai, selamat"
        " pagi, selamat petang, selamat malam, tolong, mohon, ya, tidak, tak, belum, sudah,"
        " dah, saya, aku, awak, anda, encik, cik, puan, tuan, pesanan, pesanan saya,"
        " bungkusan, parcel, penghantaran, bayaran balik, wang, duit, invois, bayaran,"
        " akaun, kata laluan, bantuan, bantu, boleh, nak, mahu, perlu, di mana, bila,"
        " bagaimana, macam mana, kenapa, mengapa, apa, dan, atau, tapi, tetapi, dengan,"
        " untuk, yang, ini, itu, sampai, lagi, juga, sangat, sikit, je, kat, tu, ni, lah,"
        " hari ini, semalam, minggu, kereta, percuma, sudah sampai, belum sampai, belum"
        " terima, ada, tiada, di, ke, dari, pada,"
        " rosak, berfungsi, boleh guna, tak jalan,"
        " baki, hantar, dihantar, kerana, pulangkan, tukar, sahaja, sekarang, emel,"
        " batalkan, pembatalan"
    ),
    "ar": _words(
        "شكرا, شكراً, شكرًا, شكرا جزيلا, مشكور, مرحبا, السلام عليكم, أهلا, اهلا, صباح الخير,"
        " مساء الخير, من فضلك, لو سمحت, نعم, أيوه, لا, طيب, تمام, حسنا, حسناً, طلبي, الطلب,"
        " طلب, الشحنة, الطرد, التوصيل, الفاتورة, استرداد, استرجاع, الدفع, حسابي, الحساب,"
        " كلمة المرور, مساعدة, ساعدني, أين, وين, متى, كيف, لماذا, ليش, لم, لا يزال, ما زال,"
        " بعد, وصل, يصل, هل, في, من, على, إلى, مع, هذا, هذه, أنا, انا, أريد, اريد, عندي"
    ),
    "fa": _words(
        "ممنون, مرسی, متشکرم, سپاس, خیلی ممنون, سلام, وقت بخیر, روز بخیر, لطفا, لطفاً, بله,"
        " آره, نه, خیر, باشه, حتما, سفارش, سفارشم, سفارش من, بسته, بسته‌ام, ارسال, مرجوعی,"
        " بازپرداخت, فاکتور, پرداخت, حساب, حسابم, رمز عبور, کمک, کجا, کجاست, کی, چه زمانی,"
        " چطور, چرا, هنوز, نرسیده, نرسیده است, است, هست, نیست, من, به, از, در, با, را, این,"
        " آن, می‌خواهم, میخوام, دارم, ندارم"
    ),
    "el": _words(
        "ευχαριστώ, ευχαριστώ πολύ, ευχαριστω, γεια, γεια σας, γεια σου, καλημέρα, καλησπέρα,"
        " παρακαλώ, ναι, όχι, εντάξει, η παραγγελία μου, παραγγελία, δέμα, επιστροφή χρημάτων,"
        " τιμολόγιο, πληρωμή, λογαριασμός, κωδικός, βοήθεια, πού, πότε, πώς, γιατί, δεν, ακόμα"
    ),
    "he": _words(
        "תודה, תודה רבה, שלום, היי, בוקר טוב, ערב טוב, בבקשה, כן, לא, בסדר, סבבה, ההזמנה שלי,"
        " הזמנה, חבילה, משלוח, החזר כספי, חשבונית, תשלום, חשבון, סיסמה, עזרה, איפה, מתי, איך,"
        " למה, עדיין, לא הגיע"
    ),
    "hi": _words(
        "धन्यवाद, शुक्रिया, नमस्ते, नमस्कार, कृपया, हाँ, हां, नहीं, ठीक है, मेरा, मेरी, ऑर्डर,"
        " पैकेट, डिलीवरी, रिफंड, बिल, भुगतान, खाता, पासवर्ड, मदद, कहाँ, कब, कैसे, क्यों, अभी तक,"
        " नहीं आया, है, हैं, था, और, में, का, की, के"
    ),
    "th": _words(
        "ขอบคุณ, ขอบคุณครับ, ขอบคุณค่ะ, สวัสดี, สวัสดีครับ, สวัสดีค่ะ, ครับ, ค่ะ, คะ, ใช่, ไม่,"
        " โอเค, คำสั่งซื้อ, พัสดุ, คืนเงิน, ใบแจ้งหนี้, ชำระเงิน, บัญชี, รหัสผ่าน, ช่วย, ที่ไหน,"
        " เมื่อไหร่, ยังไม่ได้รับ"
    ),
    "ko": _words(
        "감사합니다, 고맙습니다, 감사해요, 안녕하세요, 네, 예, 아니요, 괜찮아요, 주문, 배송, 환불,"
        " 영수증, 결제, 계정, 비밀번호, 도와주세요, 어디, 언제, 아직"
    ),
    "ja": _words(
        "ありがとう, ありがとうございます, こんにちは, こんばんは, おはようございます, お願いします,"
        " はい, いいえ, 了解です, 注文, 荷物, 配送, 返金, 請求書, 支払い, アカウント, パスワード,"
        " まだ, 届いていません"
    ),
    "zh": _words(
        "谢谢, 謝謝, 多谢, 你好, 您好, 请, 請, 好的, 是的, 不是, 订单, 訂單, 包裹, 快递, 退款, 发票,"
        " 發票, 付款, 账号, 帳號, 密码, 帮助, 在哪里, 什么时候, 还没到"
    ),
}

# Words that tell a language from its close siblings (CLOSE_LANGUAGES). Words the siblings share
# ("kan", "pakke", "pedido") add the same bonus to each and cancel out, so on their own the
# lists above leave Danish against Norwegian, or Indonesian against Malay, to a model reading
# a few words. Every word here is absent from its siblings' lists (a unit test checks it).
SIBLING_WORDS: dict[str, frozenset[str]] = {
    "sv": _words(
        "inte, och, jag, hur, vad, när, varför, vem, vilket, vilka, mycket, ska, än, alls, fel, felet,"
        " storlek, storleken, skor, skorna, kläder, tröja, byxor, jacka, varan, varor, varorna, kvitto,"
        " kvittot, returnera, returnerat, skicka, skickat, skickade, skickats, levererad, levererat,"
        " levererades, försenad, försenat, försenade, trasig, trasigt, trasiga, saknas, saknar, fick,"
        " väntar, väntat, vänta, veckor, veckan, dagar, sedan, kanske, måste, varit, gick, tyvärr, vänliga,"
        " kundtjänst, beställde, beställt, ordernummer, spåra, spårning, spårningsnummer, betalat, betala,"
        " betalade, pengarna, inloggning, logga, byta, byte, ångra, hallå, förstår, svara, svarat, mejl,"
        " mejlet, meddelande, hemma, imorgon, i morgon, skadad, skadat, dålig, dåligt, nöjd, varje, alla,"
        " allt, inga, hälsning, snabbt, igen, säger, använda, dig, sig, sådan, ändrar, ändra"
    ),
    "da": _words(
        "ind, hvad, hvornår, meget, nu, efter, af, tilbage, op, ud, fik, noget, nogen, nogle, blev, købt,"
        " købte, ændre, ændret, penge, uge, uger, ugen, dage, måske, desværre, hjælp, hjælpen, tak, venlig,"
        " rigtig, rigtigt, forkert, fejl, fejlen, modtaget, modtage, modtog, leveret, sket, skete, spørge,"
        " spørger, bruge, siger, sige, hedder, endnu, tøj, tøjet, beskadiget, oplade, oplader, adgangskode,"
        " jeres, sådan, stadigvæk, beløb, gerne, mig, dig, sig, igen, ændrer, fået, jer, købe, hjælpe"
    ),
    "no": _words(
        "inn, hva, kva, korleis, kvifor, kor, ikkje, eg, meg, deg, seg, mye, veldig, nå, etter, av,"
        " tilbake, opp, fikk, noe, noen, ble, blitt, kjøpt, kjøpe, kjøpte, endre, endret, penger, uke, uker,"
        " uka, dager, kanskje, dessverre, hjelp, hjelpe, hjelpen, takk, hei, nei, vennlig, feil, feilen,"
        " mottatt, mottok, motta, levert, skjedd, skjedde, igjen, spørre, bruke, sier, ennå, klær, klærne,"
        " passord, dere, frå, sånn, gjerne, beløp, snarest, endrer, fått, pakka, mi,"
        # A possessive after its noun is Norwegian; Danish puts it first ("min pakke", both).
        " pakken min, pakka mi, bestillingen min, bestillinga mi, ordren min, ordren mi, kontoen min,"
        " passordet mitt, pengene mine, varen min, varene mine, kortet mitt, adressen min,"
        " fakturaen min, sendingen min, sendinga mi, kjolen min, skoene mine"
    ),
    "id": _words(
        "nggak, gak, enggak, ngga, udah, belom, bisa, mau, uang, kapan, gimana, karena, aja, kirim,"
        " dikirim, paket, pengiriman, banget, gratis, mobil, rusak, akun, kata sandi, tagihan, faktur,"
        " kemarin, toko, nomor, resi, ongkir, telepon, silakan, dong, sih, deh, nih, tuh, kok, bilang,"
        " pengen, nunggu, diskon, sepatu, celana, tas, besok, paham, kasih tahu, kasih tau, informasi, gue,"
        " gw, emang, tdk, sdh, blm, sampe, dipake, konfirmasi, jam berapa, ongkirnya, tokonya"
    ),
    "ms": _words(
        "tak, nak, dah, je, kat, macam, macam mana, camne, apasal, sikit, sahaja, hantar, dihantar, wang,"
        " awak, korang, kitorang, mahu, tempah, tempahan, poslaju, pos laju, kedai, saiz, kasut, seluar,"
        " beg, percuma, kereta, telefon, bil, akaun, kata laluan, nombor, sila, rosak, pulangkan,"
        " dipulangkan, bayaran balik, baki, selepas, sekejap, faham, cakap, beritahu, maklumat, kemaskini,"
        " tiada, perkhidmatan, khidmat, elok, bungkusan, penghantaran, invois, kerana, encik, puan,"
        " pengesahan, pukul, pukul berapa"
    ),
    "es": _with_ascii(
        _words(
            "pero, y, el, los, las, del, al, mi, mis, todavía, aún, hay, muy, llegó, llegado, dónde,"
            " cuándo, cuál, ahora, hoy, ayer, mañana, dinero, ayuda, quiero, necesito, puedo, tengo, tiene,"
            " tienen, estoy, usted, ustedes, nosotros, cuenta, contraseña, devolución, talla, tamaño,"
            " zapatos, roto, dañado, dañada, equivocado, equivocada, incorrecto, llegar, recibí, envié,"
            " cobraron, tarjeta, seguimiento, dirección, correo, teléfono, tienda, producto, artículo, caja,"
            " siempre, hace, hola, gracias, bueno, buena, malo, cambiar, nadie, ningún, ninguna, cosa, ya,"
            " eso, esto, tmb, xfa, porfa"
        )
    ),
    "pt": _with_ascii(
        _words(
            "não, você, vocês, meu, minha, ainda, chegou, ontem, hoje, agora, também, muito, obrigado,"
            " obrigada, tá, cadê, então, porém, onde, qual, quais, isso, esse, essa, ficar, fiquei, estava,"
            " estão, tem, têm, tenho, posso, quero, preciso, gostaria, encomenda, entregue, recebi,"
            " enviaram, mandaram, dinheiro, cartão, tamanho, errado, errada, quebrado, quebrada, defeito,"
            " troca, trocar, estorno, rastreio, rastreamento, endereço, senha, conta, loja, produto, artigo,"
            " caixa, nenhum, nenhuma, ninguém, coisa, tudo, pra, né, vc, vcs, blz, obg, tbm, hj, msm, eu,"
            " ele, ela, bom, boa, ruim, amanhã, comprei, paguei, enviei, cobraram"
        )
    ),
    "ru": _words(
        "что, нет, да, и, мой, заказ, заказа, пришёл, пришел, пришло, пришли, получил, получила, когда,"
        " почему, где, как, сегодня, вчера, деньги, можно, нельзя, нужно, сколько, размер, неделю, неделя,"
        " недели, дней, дня, уже, только, очень, посылка, оплатил, вернуть, вернули, возврат, сломан,"
        " сломался, сломалась, помогите, здравствуйте, пожалуйста, спасибо, если, чтобы, этот, эта, этого,"
        " его, они, мы, сделать, сделал, подскажите, скажите, ответ, ответа, никто, ничего, нету, поддержка,"
        " отправили, хотел, хотела, рублей, руб, ещё, еще"
    ),
    "uk": _words(
        "що, ні, так, і, мій, моє, коли, чому, де, як, сьогодні, вчора, гроші, кошти, можна, потрібно,"
        " треба, скільки, розмір, тиждень, днів, вже, тільки, дуже, посилка, оплатив, повернути, повернення,"
        " зламаний, зламався, зламалася, допоможіть, підкажіть, скажіть, будь ласка, дякую, якщо, щоб, цей,"
        " ця, це, його, вони, ми, ще, досі, отримав, отримала, отримали, надіслали, відправили, замовив,"
        " замовила, замовлення, відповідь, ніхто, нічого, немає, нема, хотів, хотіла, підтримка, картка,"
        " картки, гривень, грн, зробити, вітаю, привіт"
    ),
    "cs": _with_ascii(
        _words(
            "jsem, jsi, jste, jsme, ještě, není, nejde, nemůžu, nemohu, zboží, velikost, špatná, špatný,"
            " špatně, rozbitý, rozbitá, rozbité, poškozené, poškozený, poškozená, reklamace, reklamovat,"
            " vrátit, vrácení, peníze, zaplaceno, odeslána, doručeno, doručena, kurýr, přepravce, sledování,"
            " potřebuju, potřebuji, chtěl, chtěla, bych, byste, mohl, kdy, proč, kolik, týdny, týden, tady,"
            " hned, teď, žádný, žádná, žádné, vůbec, bohužel, opravdu, děkuji, děkuju, můj, nebo, taky,"
            " přišla, nepřišla, přišel, dobrý den"
        )
    ),
    "nl": _words(
        "niet, nog, mijn, het, een, ik, geen, pakket, wanneer, waarom, hoe, wat, waar, heb, hebt,"
        " ontvangen, bestelling, terug, retourneren, maat, verkeerde, verkeerd, kapot, beschadigd, werkt,"
        " betaald, verzonden, bezorgd, dagen, weken, graag, jullie, uw, hebben, zou, kunnen, willen, moet,"
        " moeten, gaan, komen, gekregen, gekocht, besteld, antwoord, klantenservice, alstublieft, bedankt,"
        " groet, groeten, wel, toch, omdat, zijn, wordt, werd, nooit, altijd, iemand, iets, veel, weer,"
        " zelf, daar, vandaag, gisteren, kleur, schoenen, jas, broek, groot, factuur, rekening,"
        " teruggestort, overgemaakt, nou"
    ),
    "de": _words(
        "nicht, noch, mein, meine, ich, kein, keine, wann, warum, wo, habe, erhalten, bestellung, zurück,"
        " zurueck, größe, grösse, groesse, falsch, falsche, falschen, kaputt, beschädigt, funktioniert,"
        " bezahlt, versendet, verschickt, tage, wochen, woche, gerne, ihr, ihre, sie, haben, würde, könnte,"
        " können, koennen, möchte, moechte, wollen, muss, müssen, bekommen, gekauft, bestellt, nachricht,"
        " antwort, kundenservice, kundendienst, bitte, danke, grüße, mfg, doch, jetzt, weil, dann, wurde,"
        " immer, jemand, etwas, viel, wieder, selbst, heute, gestern, farbe, schuhe, jacke, hose, zu, groß,"
        " rechnung, erstattet, überwiesen, storniert, sendungsnummer, zugestellt, angekommen, leider, schon,"
        " nichts, auch, sehr, für, fuer, paket"
    ),
    "sk": _with_ascii(
        # Not "dobrý deň", "hneď", "prišla" or "vrátiť": typed without accents they are Czech words.
        _words(
            "som, si, sme, ste, nie je, nemôžem, môj, moja, kedy, prečo, koľko, ešte, tovar, veľkosť,"
            " poškodený, poškodená, vrátenie, peniaze, odoslaná, kuriér, sledovanie, potrebujem,"
            " chcel, chcela, by som, týždeň, týždne, týždňa, žiadny, žiadna, vôbec, bohužiaľ, naozaj,"
            " ďakujem, alebo, tiež, prišiel, zásielka, zásielku, sa, reklamácia, objednal, objednala,"
            " dostal som, dostala som"
        )
    ),
    "gl": _with_ascii(
        _words(
            "cal, tenda, tendas, fago, canto custa, cantos, vos, nosa, noso, mércores, xoves, venres, sábado,"
            " non, miña, ata, aínda, cando, tamén, grazas, moitas grazas, xa, iso, unha, facer, podedes,"
            " tedes, diñeiro, contrasinal, enderezo, mañá, onte, hoxe, vostede, moito, moita, graciñas,"
            " bo día, boas tardes, encomenda miña, recibín, enviastes, quería, axuda, axudar, teño, ningunha"
        )
    ),
    "be": _words(
        "дзякуй, калі ласка, калі, чаму, што, ёсць, няма, грошы, атрымаў, атрымала, адправілі, вярнуць,"
        " дапамажыце, прывітанне, сёння, учора, толькі, вельмі, яшчэ, чакаю, тыдзень, тыдні, дзе, мая,"
        " маё, пасылка, пасылку, замова, замову, замовы, добры дзень, зрабіць, кошт, плацёж, мне трэба,"
        " адмяніць, адмена, вярнуць грошы,"
        " трэба, хачу, можна"
    ),
    # Croatian, Bosnian and Serbian: "što/tko" (hr) against "šta/ko" (bs, sr), and ijekavian
    # "gdje, uvijek, mjesec" (hr, bs) against ekavian "gde, uvek, mesec" (sr): two words place a
    # message among the three; a word the three share ("hvala", "paket") tells nothing.
    "hr": _with_ascii(
        _words(
            "što, tko, tjedan, tjedna, tjedana, zaporka, jučer, tisuća, točno, novci, gdje, uvijek,"
            " mjesec, mjeseca, lijepo, prije, poslije, vrijeme, sljedeći, htio, htjela, vidjeti, ovdje,"
            " dio, narudžba, narudžbu, narudžbe, narudžbom, narudžbi, kuna, trebam, obavijest, bok, trgovina,"
            " trgovini, je li, nedjelja, nedjelju, nedjelje, tjedno"
        )
    ),
    "bs": _with_ascii(
        _words(
            "šta, ko, sedmica, sedmice, sedmicu, juče, tačno, hiljada, gdje, uvijek, mjesec, mjeseca,"
            " lijepo, prije, poslije, vrijeme, htio, htjela, vidjeti, ovdje, dio, narudžba, narudžbu,"
            " narudžbe, narudžbom, narudžbi, hljeb, kahva, marka, maraka, šifra, šifru, da li, radnja,"
            " radnju, radnji, nedjelja, nedjelju, nedjelje"
        )
    ),
    "sr": _with_ascii(
        _words(
            "šta, ko, gde, uvek, mesec, meseca, lepo, pre, posle, vreme, sledeći, hteo, htela, videti,"
            " ovde, deo, nedelja, nedelju, nedelje, juče, tačno, hiljada, porudžbina, porudžbinu,"
            " porudžbine, porudžbinom, porudžbini, dinara, dinar, šifra, šifru, da li, radnja, radnju,"
            " radnji,"
            " шифра, шифру, да ли, радња, радњу, шта, ко, где, увек, месец, лепо, пре, после, време,"
            " хтео, видети, овде, недеља, недељу, недеље, јуче, тачно, хиљада, поруџбина, поруџбину,"
            " поруџбине, динара, зашто, хвала, молим, пакет, пошиљка, пошиљку, добио, добила, где је"
        )
    ),
    # Polish has no sibling in CLOSE_LANGUAGES, but shares enough short words with Czech
    # (jak, ale, co, nic, to) that a few Czech sentences otherwise lean Polish.
    "pl": _with_ascii(
        _words(
            "nie, jest, jestem, mój, zamówienie, jeszcze, dlaczego, kiedy, gdzie, ile, niestety, teraz,"
            " proszę, dziękuję, paczka, przesyłka, rozmiar, zły, złe, zła, uszkodzony, uszkodzona, zepsuty,"
            " zepsuta, reklamacja, zwrot, zwrócić, pieniądze, zapłaciłem, zapłaciłam, zamówiłem, zamówiłam,"
            " kurier, numer, śledzenia, tydzień, dni, dzień, czekam, nadal, wciąż, żadnej, żadnego, nikt,"
            " chciałem, chciałam, mogę, możecie, pomocy, sklep, towar, czy, się, albo, też"
        )
    ),
}

# Languages also typed in Latin script that py3langid cannot read there (it knows Hindi only
# in Devanagari). They are Latin-script candidates only when these words are in the message,
# so the model alone never picks them (see the routing.language module docstring).
ROMANIZED_WORDS: dict[str, frozenset[str]] = {
    # Hinglish. Left out on purpose: short words other languages use every day (to, se, ka,
    # ki, ke, ko, na, me, main, mein, din, mat, par, pe, ab, ya, log, tak).
    "hi": _words(
        "mera, meri, mere, mujhe, mujhko, muje, hamara, hamari, hamare, humko, humein, aap,"
        " aapka, aapki, aapke, aapko, apka, apki, apke, apko, tumhara, tera, teri, apna, apni,"
        " kya, kyaa, kab, kab tak, kitna, kitne, kitni, kaise, kaisa, kaun, kahan, kidhar,"
        " kyun, kyu, kyon, kyunki, nahi, nahin, nhi, hai, hain, tha, thi, hoga, hogi,"
        " ho gaya, abhi, abhi tak, kabhi, jaldi, turant, bilkul, lekin, magar, aur, bhi,"
        " sirf, phir, kuch, kuchh, koi, sab, sabhi, bahut, bohot, bahot, bohat, accha,"
        " acha, achha, theek, thik, theek hai, thik hai, galat, kharab, toota, tuta, tooti,"
        " tuti, paisa, paise, paisay, rupaye, wapas, wapis, vapas, mila, mili, milega,"
        " milegi, aaya, aayi, aaye, aayega, aayegi, ayega, ayegi, gaya, gayi, gaye, hua,"
        " hui, raha, rahi, rahe, chahiye, chahie, chaiye, karna, karo, karein, kariye,"
        " karenge, kiya, kijiye, kardo, kar do, batao, bataiye, bataye, bolo, boliye,"
        " dekho, dekhiye, samajh, samaan, saman, saamaan, aaj, hafta, hafte, mahina, bhej,"
        " bhejo, bheja, bheji, bhejiye, dhanyavaad, dhanyawad, shukriya, namaste, kripya,"
        " yaar, bhai, bhaiya, ji, haan, liye, ke liye, wala, wali, wale, kyonki"
    ),
}

# Letters that only some languages use. A word containing one is evidence for those languages;
# with several markers in one word, the languages they share decide ("będzie" -> ę -> pl).
MARKER_CHARS: dict[str, frozenset[str]] = {
    "es": frozenset("ñ¿¡"),
    "pt": frozenset("ãõçâêô"),
    "fr": frozenset("œçèêëîïûùâô"),
    "de": frozenset("ßäöü"),
    "it": frozenset("òìèù"),
    "pl": frozenset("ąćęłńśźż"),
    "cs": frozenset("ěřůčšžťďňý"),
    "sv": frozenset("åäö"),
    "da": frozenset("æøå"),
    "no": frozenset("æøå"),
    "fi": frozenset("äö"),
    "tr": frozenset("şğıçöü"),
    "ro": frozenset("ăâîșțşţ"),
    "hu": frozenset("őűöü"),
    "vi": frozenset("đơưăâêôạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ"),
    "ru": frozenset("ыэъё"),
    "uk": frozenset("іїєґ"),
    "fa": frozenset("پچژگکی"),
    "ar": frozenset("ةىيك"),
    "ur": frozenset("ٹڈڑںےھ"),
    "be": frozenset("ўі"),
    "bg": frozenset("ъщ"),
    "sr": frozenset("ђћџљњđčćšž"),
    "as": frozenset("ৰৱ"),
    "ps": frozenset("ټډړښږګېۍځڅڼ"),  # Pashto's own letters: Persian and Arabic have none of them
    "az": frozenset("əğıöüşç"),  # ə is Azerbaijani alone
    "yo": frozenset("ẹọṣ"),
    "ha": frozenset("ɓɗƙ"),
    "ca": frozenset("ŀ·çàèòéíóúïü"),
    "gl": frozenset("ñ"),  # Assamese ra and wa: Bengali script otherwise reads as Bengali
    "sk": frozenset("ľĺŕôčšžťďňý"),  # the last seven Czech too: ě, ř, ů tell Czech
    "hr": frozenset("čćšžđ"),  # Bosnian and Latin-script Serbian write them too: words decide
    "bs": frozenset("čćšžđ"),
    "sl": frozenset("čšž"),
    "lt": frozenset("ąčęėįšųūž"),
    "lv": frozenset("āčēģīķļņšūž"),
    "et": frozenset("õäöüšž"),
    "is": frozenset("ðþæöáéíóúý"),
    "fo": frozenset("ðøæáíóúý"),
    "kk": frozenset("әғқңөұүһі"),
    "mk": frozenset("ѓќѕјљњ"),
    "tt": frozenset("әөүҗңһ"),
    "ba": frozenset("әөүғҡңҙҫһ"),
    "ky": frozenset("ңөү"),
    "mn": frozenset("өү"),
    "tg": frozenset("ғӣқӯҳҷ"),
}

# Which languages a script can be. Keys are the first word of the Unicode character name
# (LATIN, CYRILLIC, ...), except HAN and KANA which group the CJK ideographs and the two kana.
# A supported language missing from every entry is assumed to be written in Latin script.
SCRIPT_LANGUAGES: dict[str, frozenset[str]] = {
    "CYRILLIC": frozenset({"ru", "uk", "bg", "sr", "be", "kk", "mk", "mn", "ky", "tg", "tt", "ba"}),
    "GREEK": frozenset({"el"}),
    "HEBREW": frozenset({"he", "yi"}),
    "ARABIC": frozenset({"ar", "fa", "ur", "ps", "ku", "ug", "sd"}),
    "DEVANAGARI": frozenset({"hi", "mr", "ne", "sa"}),
    "BENGALI": frozenset({"bn", "as"}),
    "ORIYA": frozenset({"or"}),
    "TIBETAN": frozenset({"bo"}),
    "THAI": frozenset({"th"}),
    "HANGUL": frozenset({"ko"}),
    "KANA": frozenset({"ja"}),
    "HAN": frozenset({"zh", "ja"}),
    "GEORGIAN": frozenset({"ka"}),
    "ARMENIAN": frozenset({"hy"}),
    "ETHIOPIC": frozenset({"am"}),
    "TAMIL": frozenset({"ta"}),
    "TELUGU": frozenset({"te"}),
    "KHMER": frozenset({"km"}),
    "LAO": frozenset({"lo"}),
    "MYANMAR": frozenset({"my"}),
    "SINHALA": frozenset({"si"}),
    "GUJARATI": frozenset({"gu"}),
    "GURMUKHI": frozenset({"pa"}),
    "KANNADA": frozenset({"kn"}),
    "MALAYALAM": frozenset({"ml"}),
}

# Languages close enough that a model and a lexicon confuse them on few words; telling them
# apart takes a clearer lead (see routing.language.MIN_SIBLING_CONFIDENCE).
CLOSE_LANGUAGES: tuple[frozenset[str], ...] = (
    frozenset({"da", "no", "sv"}),
    frozenset({"id", "ms"}),
    frozenset({"es", "pt", "gl"}),
    frozenset({"ru", "uk", "be"}),
    frozenset({"cs", "sk"}),
    frozenset({"sr", "hr", "bs"}),
)

# Latin-script languages that also have a second script above (Serbian is written in both;
# py3langid's Kurdish is Kurmanji, in Latin script, while Sorani is written in Arabic script).
ALSO_LATIN: frozenset[str] = frozenset({"sr", "ku"})

# Scripts one language owns among the detectable ones: a single word in it decides, unless a
# marker letter says it is the script's other language (Assamese ৰ, ৱ in Bengali script).
# Tibetan script is Tibetan (bo), whose speakers far outnumber Dzongkha's; py3langid's only
# model of the script is Dzongkha (dz), so it cannot tell them apart and is not asked.
SCRIPT_OWNERS: dict[str, str] = {"BENGALI": "bn", "TIBETAN": "bo"}

# The language a script's text is taken for when the evidence is even: Devanagari "धन्यवाद"
# is Hindi as much as Marathi or Nepali, and Hindi is by far the most written of them. Any word
# or letter the default lacks, or the model clearly preferring another language, overrules it.
SCRIPT_DEFAULTS: dict[str, str] = {"DEVANAGARI": "hi"}


def lexicon_languages() -> frozenset[str]:
    """The languages the lexicon has words for: only against these can its words decide."""
    return frozenset(SHORT_WORDS) | frozenset(SIBLING_WORDS) | frozenset(ROMANIZED_WORDS)

/* The matcher's words per language: number words, words that join order
 * lines, and words that carry nothing. Data, not code: a language is one
 * more table here (doc/commerce.md says how to add one). Words are written
 * folded (lower case, no accents: "tres" matches "três"), and a phrase is
 * words separated by one space. */
#include <string.h>
#include <strings.h>

#include "commerce.h"

typedef struct wb_number_word number_word;

static const number_word en_numbers[] = {
    {"a", 1}, {"an", 1}, {"one", 1}, {"two", 2}, {"three", 3},
    {"four", 4}, {"five", 5}, {"six", 6}, {"seven", 7}, {"eight", 8},
    {"nine", 9}, {"ten", 10}, {"eleven", 11}, {"twelve", 12},
    {"thirteen", 13}, {"fourteen", 14}, {"fifteen", 15}, {"sixteen", 16},
    {"seventeen", 17}, {"eighteen", 18}, {"nineteen", 19}, {"twenty", 20},
    {"a dozen", 12}, {"one dozen", 12}, {"dozen", 12}, {"a couple of", 2},
    {"a pair of", 2}, {"half a dozen", 6}, {"two dozen", 24},
};
static const char *const en_connectors[] = {"and", "plus", "also", NULL};
static const char *const en_fillers[] = {
    "i", "id", "d", "want", "would", "like", "please", "pls", "can",
    "could", "get", "have", "give", "me", "us", "some", "of", "the",
    "order", "add", "need", "to", "for", "thanks", "thank", "you", "hi",
    "hello", "x", NULL};

static const number_word es_numbers[] = {
    {"un", 1}, {"una", 1}, {"uno", 1}, {"dos", 2}, {"tres", 3},
    {"cuatro", 4}, {"cinco", 5}, {"seis", 6}, {"siete", 7}, {"ocho", 8},
    {"nueve", 9}, {"diez", 10}, {"once", 11}, {"doce", 12}, {"trece", 13},
    {"catorce", 14}, {"quince", 15}, {"dieciseis", 16}, {"diecisiete", 17},
    {"dieciocho", 18}, {"diecinueve", 19}, {"veinte", 20},
    {"una docena", 12}, {"docena", 12}, {"media docena", 6},
    {"un par de", 2},
};
static const char *const es_connectors[] = {"y", "e", "mas", NULL};
static const char *const es_fillers[] = {
    "quiero", "quisiera", "me", "da", "dame", "por", "favor", "de", "el",
    "la", "los", "las", "pedir", "pido", "gracias", "hola", "porfa", "x",
    NULL};

static const number_word pt_numbers[] = {
    {"um", 1}, {"uma", 1}, {"dois", 2}, {"duas", 2}, {"tres", 3},
    {"quatro", 4}, {"cinco", 5}, {"seis", 6}, {"sete", 7}, {"oito", 8},
    {"nove", 9}, {"dez", 10}, {"onze", 11}, {"doze", 12}, {"treze", 13},
    {"catorze", 14}, {"quatorze", 14}, {"quinze", 15}, {"dezesseis", 16},
    {"dezasseis", 16}, {"dezessete", 17}, {"dezassete", 17},
    {"dezoito", 18}, {"dezenove", 19}, {"dezanove", 19}, {"vinte", 20},
    {"uma duzia", 12}, {"duzia", 12}, {"meia duzia", 6}, {"um par de", 2},
};
static const char *const pt_connectors[] = {"e", "mais", NULL};
static const char *const pt_fillers[] = {
    "eu", "quero", "queria", "gostaria", "de", "me", "manda", "mande",
    "da", "do", "o", "a", "os", "as", "por", "favor", "pedir", "pedido",
    "obrigado", "obrigada", "ola", "oi", "x", NULL};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const wb_lang_words languages[] = {
    {"en", en_numbers, N(en_numbers), en_connectors, en_fillers},
    {"es", es_numbers, N(es_numbers), es_connectors, es_fillers},
    {"pt", pt_numbers, N(pt_numbers), pt_connectors, pt_fillers},
};

const wb_lang_words *wb_lang_words_for(const char *locale)
{
    if (!locale || !locale[0])
        return &languages[0];
    size_t n = strcspn(locale, "-_");
    for (size_t i = 0; i < N(languages); i++)
        if (strlen(languages[i].lang) == n &&
            strncasecmp(languages[i].lang, locale, n) == 0)
            return &languages[i];
    return &languages[0];
}

int wb_word_in(const char *const *list, const char *word)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(list[i], word) == 0)
            return 1;
    return 0;
}

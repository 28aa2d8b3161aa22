
/*
 * Copyright (C) chrys authors
 *
 * Unit tests of ngx_chrys_amf.c: AMF0 values of data messages as JSON,
 * and of the AAC AudioSpecificConfig reader of ngx_chrys_avc.c (channels
 * in a program_config_element too).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_chrys_amf.h"
#include "ngx_chrys_avc.h"
#include "ngx_unit.h"


#define NGX_UNIT_OUT          512


static ngx_uint_t ngx_unit_amf(u_char *in, size_t len, size_t size,
    const char *want, ngx_uint_t count);


/* "in" converts to "want" (NULL: is refused) with "count" values */

static ngx_uint_t
ngx_unit_amf(u_char *in, size_t len, size_t size, const char *want,
    ngx_uint_t count)
{
    u_char      *end;
    size_t       n;
    ngx_uint_t   c;
    u_char       out[NGX_UNIT_OUT];

    end = ngx_chrys_amf_json(in, in + len, out, size, &n, &c);

    if (want == NULL) {
        return end == NULL;
    }

    return end == in + len && c == count && n == ngx_strlen(want)
           && ngx_memcmp(out, want, n) == 0;
}


static void
test_amf_text_data(void)
{
    /* what ffmpeg sends for a subtitle: an ECMA array of two strings */
    static u_char  in[] =
        "\x08\x00\x00\x00\x02"
        "\x00\x04" "type" "\x02\x00\x04" "Text"
        "\x00\x04" "text" "\x02\x00\x05" "cue 1"
        "\x00\x00\x09";

    ngx_unit_check(ngx_unit_amf(in, sizeof(in) - 1, NGX_UNIT_OUT,
                                "[{\"type\":\"Text\",\"text\":\"cue 1\"}]",
                                1));
}


static void
test_amf_values(void)
{
    /* 1.5, -3, true, null, undefined, a strict array [7], a date */
    static u_char  in[] =
        "\x00\x3f\xf8\x00\x00\x00\x00\x00\x00"
        "\x00\xc0\x08\x00\x00\x00\x00\x00\x00"
        "\x01\x01"
        "\x05"
        "\x06"
        "\x0a\x00\x00\x00\x01" "\x00\x40\x1c\x00\x00\x00\x00\x00\x00"
        "\x0b\x42\x74\x5f\x68\x0b\x00\x00\x00\x00\x00";

    /* NaN and infinity, which JSON has not */
    static u_char  nan[] =
        "\x00\x7f\xf8\x00\x00\x00\x00\x00\x00"
        "\x00\x7f\xf0\x00\x00\x00\x00\x00\x00";

    /* 1e300: past what an integer holds */
    static u_char  big[] = "\x00\x7e\x37\xe4\x3c\x88\x00\x75\x9c";

    ngx_unit_check(ngx_unit_amf(in, sizeof(in) - 1, NGX_UNIT_OUT,
                                "[1.5,-3,true,null,null,[7],1400000000000]",
                                7));
    ngx_unit_check(ngx_unit_amf(nan, sizeof(nan) - 1, NGX_UNIT_OUT,
                                "[null,null]", 2));
    ngx_unit_check(ngx_unit_amf(big, sizeof(big) - 1, NGX_UNIT_OUT,
                                "[1.0000000000000001e+300]", 1));
}


static void
test_amf_strings_are_escaped_and_utf8(void)
{
    /* a quote, a backslash, a line feed, a control byte, é, bad bytes */
    static u_char  in[] = "\x02\x00\x0e" "a\"b\\c\nd\x01" "\xc3\xa9"
                          "\xff" "\xc0\xaf" "z";

    ngx_unit_check(ngx_unit_amf(in, sizeof(in) - 1, NGX_UNIT_OUT,
                                "[\"a\\\"b\\\\c\\u000ad\\u0001\xc3\xa9"
                                "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                                "z\"]", 1));
}


/*
 * Bytes ngx_utf8_decode() took as UTF-8 and let into the JSON as they
 * were (found by fuzz_amf): a continuation byte of 0xc0 to 0xff, a lead
 * byte of 0xf8 to 0xff; each byte of them is replaced.
 */

static void
test_amf_strings_ngx_utf8_decode_let_through(void)
{
    static u_char  in[] = "\x02\x00\x0b" "\xc3\xff" "\xe2\x82\xac"
                          "\xf8\x90\x80\x80" "\xe4\xba";

    ngx_unit_check(ngx_unit_amf(in, sizeof(in) - 1, NGX_UNIT_OUT,
                                "[\"\xef\xbf\xbd\xef\xbf\xbd"
                                "\xe2\x82\xac"
                                "\xef\xbf\xbd\xef\xbf\xbd"
                                "\xef\xbf\xbd\xef\xbf\xbd"
                                "\xef\xbf\xbd\xef\xbf\xbd\"]", 1));
}


static void
test_amf_refuses_what_it_cannot_say(void)
{
    ngx_uint_t  i;
    u_char      deep[128];

    /* cut short: a number, a string, an object without its end */
    ngx_unit_check(ngx_unit_amf((u_char *) "\x00\x3f\xf8", 3, NGX_UNIT_OUT,
                                NULL, 0));
    ngx_unit_check(ngx_unit_amf((u_char *) "\x02\x00\x09" "abc", 6,
                                NGX_UNIT_OUT, NULL, 0));
    ngx_unit_check(ngx_unit_amf((u_char *) "\x03\x00\x01" "a\x05", 5,
                                NGX_UNIT_OUT, NULL, 0));

    /* a strict array that says it has more than it has */
    ngx_unit_check(ngx_unit_amf((u_char *) "\x0a\xff\xff\xff\xff\x05", 6,
                                NGX_UNIT_OUT, NULL, 0));

    /* a reference, an AMF3 switch */
    ngx_unit_check(ngx_unit_amf((u_char *) "\x07\x00\x01", 3, NGX_UNIT_OUT,
                                NULL, 0));
    ngx_unit_check(ngx_unit_amf((u_char *) "\x11\x01", 2, NGX_UNIT_OUT,
                                NULL, 0));

    /* 16 arrays deep is taken, 17 is not */

    for (i = 0; i < 17; i++) {
        ngx_memcpy(deep + 5 * i, "\x0a\x00\x00\x00\x01", 5);
    }

    deep[5 * 16] = 0x05;
    ngx_unit_check(!ngx_unit_amf(deep, 5 * 16 + 1, NGX_UNIT_OUT, NULL, 0));

    deep[5 * 17] = 0x05;
    ngx_unit_check(ngx_unit_amf(deep, 5 * 17 + 1, NGX_UNIT_OUT, NULL, 0));

    /* what does not fit the output */
    ngx_unit_check(ngx_unit_amf((u_char *) "\x02\x00\x05" "hello", 8, 8,
                                NULL, 0));
    ngx_unit_check(ngx_unit_amf((u_char *) "\x02\x00\x05" "hello", 8, 9,
                                "[\"hello\"]", 1));
}


static void
test_aac_config(void)
{
    ngx_uint_t  rate, channels;

    /* AAC LC, 44.1 kHz, stereo; 48 kHz mono */
    ngx_unit_check(ngx_chrys_aac_config_parse((u_char *) "\x12\x10", 2,
                                              &rate, &channels)
                   == NGX_OK && rate == 44100 && channels == 2);
    ngx_unit_check(ngx_chrys_aac_config_parse((u_char *) "\x11\x88", 2,
                                              &rate, &channels)
                   == NGX_OK && rate == 48000 && channels == 1);

    /* configuration 7 is 7.1: eight channels (ffmpeg's "7.1") */
    ngx_unit_check(ngx_chrys_aac_config_parse((u_char *) "\x12\x38", 2,
                                              &rate, &channels)
                   == NGX_OK && rate == 44100 && channels == 8);

    /* short, a rate index that is reserved, a reserved configuration */
    ngx_unit_check(ngx_chrys_aac_config_parse((u_char *) "\x12", 1,
                                              &rate, &channels)
                   == NGX_ERROR);
    ngx_unit_check(ngx_chrys_aac_config_parse((u_char *) "\x16\x90", 2,
                                              &rate, &channels)
                   == NGX_ERROR);
    ngx_unit_check(ngx_chrys_aac_config_parse((u_char *) "\x12\x40", 2,
                                              &rate, &channels)
                   == NGX_ERROR);
}


/*
 * Channel configuration 0: the channels are in a program_config_element.
 * These are the AudioSpecificConfigs ffmpeg's own AAC encoder (FFmpeg
 * 5.1) writes for layouts that have no configuration, each with a PCE
 * whose comment is "Lavc59.37.100", and an SBR sync extension after it.
 */

static void
test_aac_config_pce(void)
{
    ngx_uint_t  rate, channels;

    /* quad: a front and a back channel pair */
    static u_char  quad[] =
        "\x12\x00\x05\x04\x04\x00\x21\x10\x0d" "Lavc59.37.100"
        "\x56\xe5\x00";

    /* 2.1: a front channel pair and an LFE */
    static u_char  two1[] =
        "\x12\x00\x05\x04\x01\x00\x20\x00\x0d" "Lavc59.37.100"
        "\x56\xe5\x00";

    /* hexagonal: front centre and pair, back pair and centre */
    static u_char  hexagonal[] =
        "\x12\x00\x05\x08\x08\x00\x20\x08\x84\x0d" "Lavc59.37.100"
        "\x56\xe5\x00";

    /* 6.1: front centre and pair, a side pair, a back centre, an LFE */
    static u_char  six1[] =
        "\x12\x00\x05\x08\x48\x00\x20\x00\xc4\x40\x0d"
        "Lavc59.37.100" "\x56\xe5\x00";

    /*
     * Made by hand: explicit HE-AAC (object type 5: a 24 kHz core, SBR
     * to 48 kHz, then AAC LC), a PCE of one front channel pair, an empty
     * comment.  The rate is the core's, that of its 1024-sample frames.
     */
    static u_char  sbr[] = "\x2b\x01\x88\x02\xc2\x00\x00\x10\x00";

    ngx_unit_check(ngx_chrys_aac_config_parse(quad, sizeof(quad) - 1,
                                              &rate, &channels)
                   == NGX_OK && rate == 44100 && channels == 4);
    ngx_unit_check(ngx_chrys_aac_config_parse(two1, sizeof(two1) - 1,
                                              &rate, &channels)
                   == NGX_OK && rate == 44100 && channels == 3);
    ngx_unit_check(ngx_chrys_aac_config_parse(hexagonal,
                                              sizeof(hexagonal) - 1,
                                              &rate, &channels)
                   == NGX_OK && rate == 44100 && channels == 6);
    ngx_unit_check(ngx_chrys_aac_config_parse(six1, sizeof(six1) - 1,
                                              &rate, &channels)
                   == NGX_OK && rate == 44100 && channels == 7);
    ngx_unit_check(ngx_chrys_aac_config_parse(sbr, sizeof(sbr) - 1,
                                              &rate, &channels)
                   == NGX_OK && rate == 24000 && channels == 2);

    /* a PCE cut short, before its comment, in its comment */
    ngx_unit_check(ngx_chrys_aac_config_parse((u_char *) "\x12\x00", 2,
                                              &rate, &channels)
                   == NGX_ERROR);
    ngx_unit_check(ngx_chrys_aac_config_parse(quad, 8, &rate, &channels)
                   == NGX_ERROR);
    ngx_unit_check(ngx_chrys_aac_config_parse(quad, 21, &rate, &channels)
                   == NGX_ERROR);
    ngx_unit_check(ngx_chrys_aac_config_parse(quad, 22, &rate, &channels)
                   == NGX_OK && channels == 4);

    /* a PCE without channels; object type 25 (ER HVXC) has no PCE */
    ngx_unit_check(ngx_chrys_aac_config_parse((u_char *) "\x12\x00\x05"
                                              "\x00\x00\x00\x00\x00", 8,
                                              &rate, &channels)
                   == NGX_ERROR);
    ngx_unit_check(ngx_chrys_aac_config_parse((u_char *) "\xca\x00\x05"
                                              "\x04\x04\x00\x21\x10\x00",
                                              9, &rate, &channels)
                   == NGX_ERROR);
}


int
main(void)
{
    ngx_unit_init();

    ngx_unit_run(test_amf_text_data);
    ngx_unit_run(test_amf_values);
    ngx_unit_run(test_amf_strings_are_escaped_and_utf8);
    ngx_unit_run(test_amf_strings_ngx_utf8_decode_let_through);
    ngx_unit_run(test_amf_refuses_what_it_cannot_say);
    ngx_unit_run(test_aac_config);
    ngx_unit_run(test_aac_config_pce);

    return ngx_unit_summary("test_amf");
}

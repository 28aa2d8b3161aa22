
/*
 * Copyright (C) chrys authors
 *
 * Access units copied out of a ring, decoded or remuxed on demand in a
 * pool thread: decoding starts at an IDR and yields the images of the
 * frames asked for; remuxing writes fragmented MP4 without re-encoding.
 * Neither touches the zone: they work on a private copy.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_chrys_replay.h"
#include "ngx_chrys_codec.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>


#define NGX_CHRYS_MUX_IO          (64 * 1024)
/* ms between frames until the clip has seen two (30 fps) */
#define NGX_CHRYS_MUX_STEP        33


/* a replay under way, as the codec's handler sees it */

typedef struct {
    ngx_chrys_replay_t           *rp;
    ngx_uint_t                    clean;      /* since the last IDR */
    ngx_log_t                    *log;
} ngx_chrys_replaying_t;


static void ngx_chrys_replay_picture(void *data, AVFrame *frame);
static ngx_chrys_au_t *ngx_chrys_replay_au(ngx_chrys_gop_t *gop,
    ngx_uint_t seq);
static ngx_uint_t ngx_chrys_replay_wanted(ngx_chrys_replay_t *rp,
    ngx_uint_t seq);
static ngx_int_t ngx_chrys_mux_start(ngx_chrys_mux_t *mux);
static void ngx_chrys_mux_clock_init(ngx_chrys_mux_clock_t *clock,
    int64_t offset, int64_t step);
static int64_t ngx_chrys_mux_time(ngx_chrys_mux_clock_t *clock,
    ngx_chrys_mux_clock_t *lead, int64_t dts);
static ngx_int_t ngx_chrys_mux_audio_stream(ngx_chrys_mux_t *mux);
static ngx_int_t ngx_chrys_mux_extradata(AVCodecParameters *par,
    ngx_chrys_au_t *config);
static int ngx_chrys_mux_audio(ngx_chrys_mux_t *mux, AVPacket *pkt);
static int ngx_chrys_mux_write(void *opaque, uint8_t *buf, int size);


/* runs in a pool thread */

void
ngx_chrys_replay_handler(void *data, ngx_log_t *log)
{
    ngx_chrys_replay_t  *rp = data;

    ngx_uint_t              i, start;
    ngx_chrys_au_t         *au;
    ngx_chrys_codec_t       codec;
    ngx_chrys_replaying_t   r;

    start = ngx_chrys_thread_usec();

    rp->nimages = 0;
    rp->errors = 0;

    r.rp = rp;
    r.clean = 0;
    r.log = log;

    if (ngx_chrys_codec_init(&codec) != NGX_OK) {
        rp->errors++;
        goto done;
    }

    codec.handler = ngx_chrys_replay_picture;
    codec.data = &r;

    for (i = 0; i <= rp->gop->naus; i++) {

        au = (i < rp->gop->naus) ? &rp->gop->aus[i] : NULL;

        if (au && (au->flags & NGX_CHRYS_AU_CONFIG)) {
            r.clean = 0;

            if (ngx_chrys_codec_open(&codec, au->data, au->len) != NGX_OK) {
                rp->errors++;
            }

            continue;
        }

        if (codec.avctx == NULL) {
            continue;
        }

        if (au) {
            if (!r.clean && !(au->flags & NGX_CHRYS_AU_IDR)) {
                continue;
            }

            r.clean = 1;
        }

        /* au NULL, the end: out with the frames held for reordering */

        if (ngx_chrys_codec_decode(&codec, au) != NGX_OK) {
            rp->errors++;
            r.clean = 0;
        }
    }

    ngx_chrys_codec_free(&codec);

done:

    rp->usec = ngx_chrys_thread_usec() - start;
}


static void
ngx_chrys_replay_picture(void *data, AVFrame *frame)
{
    ngx_chrys_replaying_t  *r = data;

    u_char               *buf;
    ngx_uint_t            seq;
    ngx_chrys_au_t       *au;
    ngx_chrys_image_t    *img;
    ngx_chrys_replay_t   *rp;
    ngx_chrys_planes_t    pl;

    rp = r->rp;

    if (frame->decode_error_flags || (frame->flags & AV_FRAME_FLAG_CORRUPT)) {
        /* nothing after a damaged picture is served */
        rp->errors++;
        r->clean = 0;
        return;
    }

    if (!r->clean || frame->pts == AV_NOPTS_VALUE) {
        return;
    }

    seq = (ngx_uint_t) frame->pts;

    if (!ngx_chrys_replay_wanted(rp, seq) || rp->nimages == rp->nwant) {
        return;
    }

    au = ngx_chrys_replay_au(rp->gop, seq);
    if (au == NULL) {
        return;
    }

    buf = NULL;

    if (ngx_chrys_planes_of_frame(&pl, frame, &buf, r->log) != NGX_OK) {
        rp->errors++;
        return;
    }

    img = &rp->images[rp->nimages];

    if (ngx_chrys_image_make(&pl, &rp->look, img, r->log) == NGX_OK) {
        img->frame.seq = seq;
        img->frame.pts = au->pts;
        img->frame.time = au->time;
        img->frame.keyframe = (au->flags & NGX_CHRYS_AU_KEY) ? 1 : 0;
        img->frame.full_range = pl.full_range;

        rp->nimages++;

    } else {
        ngx_chrys_image_free(img);
        rp->errors++;
    }

    if (buf) {
        ngx_free(buf);
    }
}


static ngx_chrys_au_t *
ngx_chrys_replay_au(ngx_chrys_gop_t *gop, ngx_uint_t seq)
{
    ngx_uint_t  i;

    for (i = 0; i < gop->naus; i++) {
        if (gop->aus[i].seq == seq
            && !(gop->aus[i].flags & NGX_CHRYS_AU_CONFIG))
        {
            return &gop->aus[i];
        }
    }

    return NULL;
}


static ngx_uint_t
ngx_chrys_replay_wanted(ngx_chrys_replay_t *rp, ngx_uint_t seq)
{
    ngx_uint_t  lo, hi, mid;

    lo = 0;
    hi = rp->nwant;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        if (rp->want[mid] == seq) {
            return 1;
        }

        if (rp->want[mid] < seq) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return 0;
}


void
ngx_chrys_replay_free(ngx_chrys_replay_t *rp)
{
    ngx_uint_t  i;

    for (i = 0; i < rp->nimages; i++) {
        ngx_chrys_image_free(&rp->images[i]);
    }

    rp->nimages = 0;

    if (rp->gop) {
        ngx_chrys_gop_free(rp->gop);
        rp->gop = NULL;
    }
}


/*
 * Remuxes one GOP into fragmented MP4 (a fragment per keyframe, the moov
 * first and empty, so that the file plays while it arrives); the first
 * step writes the header, the last the trailer.  Runs in a pool thread.
 */

void
ngx_chrys_mux_handler(void *data, ngx_log_t *log)
{
    ngx_chrys_mux_t  *mux = data;

    int               rc;
    u_char           *p;
    AVPacket         *pkt;
    ngx_uint_t        i;
    ngx_chrys_au_t   *au;
    AVFormatContext  *fmt;

    mux->rc = NGX_ERROR;
    mux->len = 0;
    mux->error[0] = '\0';

    pkt = av_packet_alloc();
    if (pkt == NULL) {
        return;
    }

    if (!mux->started && ngx_chrys_mux_start(mux) != NGX_OK) {
        av_packet_free(&pkt);
        return;
    }

    fmt = mux->fmt;
    rc = 0;

    for (i = 0; mux->gop && i < mux->gop->naus; i++) {
        au = &mux->gop->aus[i];

        if (au->flags & NGX_CHRYS_AU_CONFIG) {
            /* MP4 takes one sequence header: the first one */
            continue;
        }

        pkt->dts = ngx_chrys_mux_time(&mux->video_clock, NULL, au->dts);
        pkt->pts = au->pts - mux->video_clock.offset;
        pkt->data = au->data;
        pkt->size = au->len;
        pkt->stream_index = 0;
        pkt->flags = (au->flags & NGX_CHRYS_AU_IDR) ? AV_PKT_FLAG_KEY : 0;
        pkt->duration = 0;

        /* ms to whatever time base the muxer chose */
        av_packet_rescale_ts(pkt, (AVRational) { 1, 1000 },
                             fmt->streams[0]->time_base);

        rc = av_write_frame(fmt, pkt);
        if (rc < 0) {
            break;
        }

        mux->frames++;
    }

    if (rc >= 0 && mux->audio && mux->audio_index >= 0) {
        rc = ngx_chrys_mux_audio(mux, pkt);
    }

    if (rc >= 0) {
        /* close the fragment so that its bytes come out now */
        rc = mux->last ? av_write_trailer(fmt) : av_write_frame(fmt, NULL);
    }

    if (rc >= 0) {
        avio_flush(fmt->pb);
        mux->rc = NGX_OK;

    } else {
        p = ngx_slprintf(mux->error, mux->error + NGX_CHRYS_ERROR_LEN - 1,
                         "MP4 muxing: %s", av_err2str(rc));
        *p = '\0';
    }

    av_packet_free(&pkt);
}


/*
 * The AAC frames of the step, after its GOP, on the video's clock: both
 * have the stream's timestamps, and where these go back (the publisher
 * came back) the audio takes the offset the video took.  A frame that
 * would not come after the one before it is left out.
 */

/* a track's configuration (avcC, AudioSpecificConfig) as its extradata */

static ngx_int_t
ngx_chrys_mux_extradata(AVCodecParameters *par, ngx_chrys_au_t *config)
{
    par->extradata = av_mallocz(config->len + AV_INPUT_BUFFER_PADDING_SIZE);
    if (par->extradata == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(par->extradata, config->data, config->len);
    par->extradata_size = config->len;

    return NGX_OK;
}


static int
ngx_chrys_mux_audio(ngx_chrys_mux_t *mux, AVPacket *pkt)
{
    int               rc;
    int64_t           dts;
    AVStream         *st;
    AVRational        samples;
    ngx_uint_t        i;
    ngx_chrys_au_t   *au;
    AVFormatContext  *fmt;

    fmt = mux->fmt;
    st = fmt->streams[mux->audio_index];
    samples = (AVRational) { 1, st->codecpar->sample_rate };

    for (i = 0; i < mux->audio->naus; i++) {
        au = &mux->audio->aus[i];

        if (au->flags & NGX_CHRYS_AU_CONFIG) {
            continue;
        }

        dts = ngx_chrys_mux_time(&mux->audio_clock, &mux->video_clock,
                                 au->dts);
        if (dts < 0) {
            continue;
        }

        av_packet_unref(pkt);

        pkt->data = au->data;
        pkt->size = au->len;
        pkt->pts = dts;
        pkt->dts = dts;
        pkt->stream_index = mux->audio_index;
        pkt->flags = AV_PKT_FLAG_KEY;

        av_packet_rescale_ts(pkt, (AVRational) { 1, 1000 }, st->time_base);

        /* an AAC frame is 1024 samples */
        pkt->duration = av_rescale_q(1024, samples, st->time_base);

        rc = av_write_frame(fmt, pkt);
        if (rc < 0) {
            return rc;
        }
    }

    return 0;
}


static void
ngx_chrys_mux_clock_init(ngx_chrys_mux_clock_t *clock, int64_t offset,
    int64_t step)
{
    clock->offset = offset;
    clock->last = 0;
    clock->last_dts = -1;
    clock->step = step;
    clock->restarts = 0;
    clock->seen = 0;
}


/*
 * The clip time of a track's access unit, -1 if it would not come after
 * the track's last one.  The clip's time goes on where the stream's goes
 * back: a publisher that came back starts its timestamps again, and MP4
 * takes only increasing ones.  The video's next frame then comes a frame
 * after its last one; a track that follows the video ("lead") takes the
 * offset the video took for that publish, and so stays in sync with it.
 */

static int64_t
ngx_chrys_mux_time(ngx_chrys_mux_clock_t *clock, ngx_chrys_mux_clock_t *lead,
    int64_t dts)
{
    int64_t  t;

    if (lead && !clock->seen) {
        clock->offset = lead->offset;
        clock->restarts = lead->restarts;

    } else if (clock->seen && dts <= clock->last) {
        clock->restarts++;

        if (lead && lead->restarts >= clock->restarts) {
            clock->offset = lead->offset;

        } else {
            clock->offset = dts - (clock->last_dts + clock->step);
        }
    }

    clock->seen = 1;
    clock->last = dts;

    t = dts - clock->offset;

    if (t <= clock->last_dts) {
        return -1;
    }

    if (clock->last_dts >= 0) {
        clock->step = t - clock->last_dts;
    }

    clock->last_dts = t;

    return t;
}


static ngx_int_t
ngx_chrys_mux_start(ngx_chrys_mux_t *mux)
{
    u_char           *io;
    AVStream         *st;
    AVDictionary     *opts;
    AVIOContext      *pb;
    ngx_chrys_au_t   *config;
    AVFormatContext  *fmt;

    config = &mux->gop->aus[0];

    if (!(config->flags & NGX_CHRYS_AU_CONFIG)) {
        return NGX_ERROR;
    }

    if (avformat_alloc_output_context2(&fmt, NULL, "mp4", NULL) < 0) {
        return NGX_ERROR;
    }

    mux->fmt = fmt;

    st = avformat_new_stream(fmt, NULL);
    if (st == NULL) {
        return NGX_ERROR;
    }

    st->time_base = (AVRational) { 1, 1000 };
    st->codecpar->codec_type = AVMEDIA_TYPE_VIDEO;
    st->codecpar->codec_id = AV_CODEC_ID_H264;
    st->codecpar->width = mux->gop->width;
    st->codecpar->height = mux->gop->height;

    if (ngx_chrys_mux_extradata(st->codecpar, config) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_chrys_mux_audio_stream(mux) != NGX_OK) {
        return NGX_ERROR;
    }

    io = av_malloc(NGX_CHRYS_MUX_IO);
    if (io == NULL) {
        return NGX_ERROR;
    }

    pb = avio_alloc_context(io, NGX_CHRYS_MUX_IO, 1, mux, NULL,
                            ngx_chrys_mux_write, NULL);
    if (pb == NULL) {
        av_free(io);
        return NGX_ERROR;
    }

    fmt->pb = pb;
    fmt->flags |= AVFMT_FLAG_CUSTOM_IO;

    /* the first access unit after the configuration sets time 0 */
    ngx_chrys_mux_clock_init(&mux->video_clock,
                             (mux->gop->naus > 1) ? mux->gop->aus[1].dts : 0,
                             NGX_CHRYS_MUX_STEP);

    opts = NULL;
    av_dict_set(&opts, "movflags",
                "frag_keyframe+empty_moov+default_base_moof", 0);

    if (avformat_write_header(fmt, &opts) < 0) {
        av_dict_free(&opts);
        (void) ngx_cpystrn(mux->error, (u_char *) "MP4 header",
                           NGX_CHRYS_ERROR_LEN);
        return NGX_ERROR;
    }

    av_dict_free(&opts);

    mux->started = 1;

    return NGX_OK;
}


/*
 * The audio track, if the first step has AAC frames: its configuration
 * (the AudioSpecificConfig) as the track's extradata.
 */

static ngx_int_t
ngx_chrys_mux_audio_stream(ngx_chrys_mux_t *mux)
{
    AVStream        *st;
    ngx_chrys_au_t  *config;

    mux->audio_index = -1;

    if (mux->audio == NULL || mux->audio->naus < 2
        || !(mux->audio->aus[0].flags & NGX_CHRYS_AU_CONFIG)
        || mux->audio->width == 0 || mux->audio->height == 0)
    {
        return NGX_OK;
    }

    config = &mux->audio->aus[0];

    st = avformat_new_stream(mux->fmt, NULL);
    if (st == NULL) {
        return NGX_ERROR;
    }

    st->time_base = (AVRational) { 1, mux->audio->width };
    st->codecpar->codec_type = AVMEDIA_TYPE_AUDIO;
    st->codecpar->codec_id = AV_CODEC_ID_AAC;
    st->codecpar->sample_rate = mux->audio->width;
    st->codecpar->frame_size = 1024;
    av_channel_layout_default(&st->codecpar->ch_layout, mux->audio->height);

    if (ngx_chrys_mux_extradata(st->codecpar, config) != NGX_OK) {
        return NGX_ERROR;
    }

    mux->audio_index = st->index;

    /* the offset comes from the video; a frame's ms until two are seen */
    ngx_chrys_mux_clock_init(&mux->audio_clock, 0,
                             1024 * 1000 / mux->audio->width);

    return NGX_OK;
}


/* AVIO output: appends to the step's buffer */

static int
ngx_chrys_mux_write(void *opaque, uint8_t *buf, int size)
{
    ngx_chrys_mux_t  *mux = opaque;

    u_char  *out;
    size_t   want;

    if (mux->len + size > mux->size) {
        want = ngx_max(mux->size * 2, mux->len + size + NGX_CHRYS_MUX_IO);

        out = av_realloc(mux->out, want);
        if (out == NULL) {
            return AVERROR(ENOMEM);
        }

        mux->out = out;
        mux->size = want;
    }

    ngx_memcpy(mux->out + mux->len, buf, size);
    mux->len += size;

    return size;
}


void
ngx_chrys_mux_free(ngx_chrys_mux_t *mux)
{
    AVFormatContext  *fmt;

    fmt = mux->fmt;

    if (fmt) {
        if (fmt->pb) {
            av_freep(&fmt->pb->buffer);
            avio_context_free(&fmt->pb);
        }

        avformat_free_context(fmt);
        mux->fmt = NULL;
    }

    av_freep(&mux->out);
    mux->size = 0;
    mux->len = 0;

    if (mux->gop) {
        ngx_chrys_gop_free(mux->gop);
        mux->gop = NULL;
    }

    if (mux->audio) {
        ngx_chrys_gop_free(mux->audio);
        mux->audio = NULL;
    }
}

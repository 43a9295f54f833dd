/* SPDX-License-Identifier: Apache-2.0 */
/* rf_cron: 5-field cron expressions and "@every" periods, evaluated in an
 * IANA time zone.
 *
 * Representation: one bit set per field. Evaluation walks *local calendar
 * days* (skipping whole months that cannot match), and inside a matching day
 * only the matching hours and minutes, converting each candidate local time
 * to a unix instant. That keeps one call to a few dozen conversions at most,
 * instead of a minute-by-minute scan over a year.
 *
 * Daylight saving time, the choices made:
 *  - a local time that does not exist (skipped by a spring-forward jump, e.g.
 *    02:30 on 2026-03-08 in America/New_York) does not fire that day. We do
 *    not shift it to 03:00 because a schedule like "30 2 * * *" would then
 *    fire at a time nobody wrote, and "0,30 2-3 * * *" would fire twice at
 *    03:00 and 03:30 from one rule.
 *  - a local time that happens twice (the repeated hour of a fall-back)
 *    fires once, at its first occurrence (the daylight-time one). So
 *    "*\/15 * * * *" fires 01:00..01:45 EDT and then next at 02:00 EST.
 * "@every" periods ignore the zone entirely: they fire at multiples of the
 * period since the unix epoch, so every replica agrees on the tick times.
 *
 * Time zones: the C library only converts in "the" local zone, chosen by the
 * TZ environment variable. We switch TZ under a mutex for the duration of
 * one rf_cron_prev/next call and restore it afterwards. The known cost: a
 * thread calling localtime_r() concurrently may see our zone for that
 * moment; runfleet's own code formats times with gmtime_r() only. UTC never
 * takes the lock. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rf_cron.h"

#define DAY_S 86400
/* How far rf_cron_next looks ahead: 8 years and a bit, so that "29 February"
 * schedules find their next leap day even across 2100 (not a leap year). */
#define NEXT_MAX_DAYS (8 * 366 + 2)
/* rf_cron_prev looks back 366 days, as its header says. */
#define PREV_MAX_DAYS 366
/* The longest "@every" period. */
#define EVERY_MAX_S ((int64_t)366 * DAY_S)

struct rf_cron {
        uint64_t minute; /* bit n: minute n, 0-59 */
        uint32_t hour;   /* bits 0-23 */
        uint32_t dom;    /* bits 1-31 */
        uint32_t month;  /* bits 1-12 */
        uint32_t dow;    /* bits 0-6, Sunday = 0 (7 is folded into 0) */
        bool dom_star;   /* the field was written starting with '*' (Vixie rule) */
        bool dow_star;
        int64_t every_s; /* > 0 for "@every": then the fields above are unused */
};

typedef struct field_def {
        const char *name;
        int min, max;
        const char *const *names; /* 3-letter names, names[0] is value @p name_base */
        int name_base;
        const char *name_kind;
} field_def_t;

static const char *const month_names[] = { "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL",
                                           "AUG", "SEP", "OCT", "NOV", "DEC", NULL };
static const char *const dow_names[] = { "SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL };

enum { F_MINUTE, F_HOUR, F_DOM, F_MONTH, F_DOW, F_COUNT };

static const field_def_t fields[F_COUNT] = {
        [F_MINUTE] = { "minute", 0, 59, NULL, 0, NULL },
        [F_HOUR] = { "hour", 0, 23, NULL, 0, NULL },
        [F_DOM] = { "day-of-month", 1, 31, NULL, 0, NULL },
        [F_MONTH] = { "month", 1, 12, month_names, 1, "month name" },
        [F_DOW] = { "day-of-week", 0, 7, dow_names, 0, "day name" },
};

static const struct {
        const char *name;
        const char *expr;
} shorthands[] = {
        { "@yearly", "0 0 1 1 *" }, { "@annually", "0 0 1 1 *" }, { "@monthly", "0 0 1 * *" },
        { "@weekly", "0 0 * * 0" }, { "@daily", "0 0 * * *" },    { "@midnight", "0 0 * * *" },
        { "@hourly", "0 * * * *" },
};

/* ---- parsing ---------------------------------------------------------- */

/* Parses one value (number or name) of @p f from @p s (@p len bytes). */
static int parse_value(const field_def_t *f, const char *s, size_t len, int *ret, char *errstr, size_t errstr_size) {
        if (len > 0 && isdigit((unsigned char)s[0])) {
                long v = 0;
                size_t i;

                for (i = 0; i < len; i++) {
                        if (!isdigit((unsigned char)s[i]))
                                goto bad;
                        if (v < 1000000)
                                v = v * 10 + (s[i] - '0');
                }
                if (v < f->min || v > f->max) {
                        snprintf(errstr, errstr_size, "%s: %.*s is out of range %d-%d", f->name, (int)len, s, f->min,
                                 f->max);
                        return -EINVAL;
                }
                *ret = (int)v;
                return 0;
        }
        if (f->names && len == 3) {
                for (int i = 0; f->names[i]; i++)
                        if (strncasecmp(s, f->names[i], 3) == 0) {
                                *ret = f->name_base + i;
                                return 0;
                        }
        }
bad:
        if (f->names)
                snprintf(errstr, errstr_size, "%s: '%.*s' is not a number or %s", f->name, (int)len, s, f->name_kind);
        else
                snprintf(errstr, errstr_size, "%s: '%.*s' is not a number", f->name, (int)len, s);
        return -EINVAL;
}

/* Parses one list element: "*", "a", "a-b", each optionally "/step". */
static int parse_element(const field_def_t *f, const char *s, size_t len, uint64_t *bits, char *errstr,
                         size_t errstr_size) {
        const char *slash = memchr(s, '/', len);
        size_t rlen = slash ? (size_t)(slash - s) : len;
        int lo, hi, step = 1, r;

        if (rlen == 1 && s[0] == '*') {
                lo = f->min;
                hi = f->max;
        } else {
                const char *dash = memchr(s, '-', rlen);

                if (rlen == 0) {
                        snprintf(errstr, errstr_size, "%s: '%.*s' has no value before '/'", f->name, (int)len, s);
                        return -EINVAL;
                }
                r = parse_value(f, s, dash ? (size_t)(dash - s) : rlen, &lo, errstr, errstr_size);
                if (r < 0)
                        return r;
                if (dash) {
                        r = parse_value(f, dash + 1, rlen - (size_t)(dash + 1 - s), &hi, errstr, errstr_size);
                        if (r < 0)
                                return r;
                        if (lo > hi) {
                                snprintf(errstr, errstr_size, "%s: range '%.*s' is backwards", f->name, (int)rlen, s);
                                return -EINVAL;
                        }
                } else
                        /* "a/n" means "a-max/n", as most crons read it. */
                        hi = slash ? f->max : lo;
        }
        if (slash) {
                const char *st = slash + 1;
                size_t slen = len - (size_t)(st - s);
                long v = 0;

                if (slen == 0) {
                        snprintf(errstr, errstr_size, "%s: '%.*s' has no step after '/'", f->name, (int)len, s);
                        return -EINVAL;
                }
                for (size_t i = 0; i < slen; i++) {
                        if (!isdigit((unsigned char)st[i])) {
                                snprintf(errstr, errstr_size, "%s: step '%.*s' is not a number", f->name, (int)slen,
                                         st);
                                return -EINVAL;
                        }
                        if (v < 1000000)
                                v = v * 10 + (st[i] - '0');
                }
                /* A step as long as the whole field is almost always a
                 * misunderstanding ("*\/60" for hourly), so it is refused. */
                if (v < 1 || v > f->max - f->min) {
                        snprintf(errstr, errstr_size, "%s: step %.*s is out of range 1-%d", f->name, (int)slen, st,
                                 f->max - f->min);
                        return -EINVAL;
                }
                step = (int)v;
        }
        for (int v = lo; v <= hi; v += step)
                *bits |= UINT64_C(1) << v;
        return 0;
}

static int parse_field(const field_def_t *f, const char *s, size_t len, uint64_t *ret_bits, char *errstr,
                       size_t errstr_size) {
        uint64_t bits = 0;
        size_t start = 0;

        for (size_t i = 0; i <= len; i++) {
                if (i < len && s[i] != ',')
                        continue;
                if (i == start) {
                        snprintf(errstr, errstr_size, "%s: empty element in list '%.*s'", f->name, (int)len, s);
                        return -EINVAL;
                }
                int r = parse_element(f, s + start, i - start, &bits, errstr, errstr_size);
                if (r < 0)
                        return r;
                start = i + 1;
        }
        *ret_bits = bits;
        return 0;
}

static int parse_every(const char *s, int64_t *ret_s, char *errstr, size_t errstr_size) {
        const char *p = s;
        int64_t v = 0, unit;

        while (*p == ' ' || *p == '\t')
                p++;
        if (p == s || !isdigit((unsigned char)*p))
                goto bad;
        for (; isdigit((unsigned char)*p); p++)
                if (v < EVERY_MAX_S + 1)
                        v = v * 10 + (*p - '0');
        switch (*p++) {
        case 's':
                unit = 1;
                break;
        case 'm':
                unit = 60;
                break;
        case 'h':
                unit = 3600;
                break;
        default:
                goto bad;
        }
        while (*p == ' ' || *p == '\t')
                p++;
        if (*p)
                goto bad;
        if (v == 0) {
                snprintf(errstr, errstr_size, "@every: the period must be at least 1s");
                return -EINVAL;
        }
        if (v > EVERY_MAX_S / unit) {
                snprintf(errstr, errstr_size, "@every: the period is longer than 366 days");
                return -EINVAL;
        }
        *ret_s = v * unit;
        return 0;
bad:
        while (*s == ' ' || *s == '\t')
                s++;
        snprintf(errstr, errstr_size, "@every: '%.40s' is not a duration (use <N>s, <N>m or <N>h)", s);
        return -EINVAL;
}

static const int month_max_days[13] = { 0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

static int parse_fields(rf_cron_t *c, const char *expr, char *errstr, size_t errstr_size) {
        const char *start[F_COUNT];
        size_t len[F_COUNT];
        uint64_t bits[F_COUNT];
        int n = 0;
        const char *p = expr;

        while (*p) {
                while (*p == ' ' || *p == '\t')
                        p++;
                if (!*p)
                        break;
                const char *b = p;

                while (*p && *p != ' ' && *p != '\t')
                        p++;
                if (n < F_COUNT) {
                        start[n] = b;
                        len[n] = (size_t)(p - b);
                }
                n++;
        }
        if (n != F_COUNT) {
                snprintf(errstr, errstr_size,
                         "expected 5 fields (minute hour day-of-month month day-of-week), found %d", n);
                return -EINVAL;
        }
        for (int i = 0; i < F_COUNT; i++) {
                int r = parse_field(&fields[i], start[i], len[i], &bits[i], errstr, errstr_size);
                if (r < 0)
                        return r;
        }
        c->minute = bits[F_MINUTE];
        c->hour = (uint32_t)bits[F_HOUR];
        c->dom = (uint32_t)bits[F_DOM];
        c->month = (uint32_t)bits[F_MONTH];
        c->dow = (uint32_t)bits[F_DOW];
        if (c->dow & (1u << 7))
                c->dow = (c->dow | 1u) & ~(1u << 7);
        c->dom_star = start[F_DOM][0] == '*';
        c->dow_star = start[F_DOW][0] == '*';

        /* "0 0 30 2 *" would silently never fire; say so now. Only when the
         * day of the week cannot rescue it (Vixie's OR rule). */
        if (!c->dom_star && c->dow_star) {
                bool possible = false;

                for (int m = 1; m <= 12 && !possible; m++)
                        if (c->month & (1u << m))
                                for (int d = 1; d <= month_max_days[m]; d++)
                                        if (c->dom & (1u << d)) {
                                                possible = true;
                                                break;
                                        }
                if (!possible) {
                        snprintf(errstr, errstr_size, "never fires: no selected month has the selected day-of-month");
                        return -EINVAL;
                }
        }
        return 0;
}

int rf_cron_parse(const char *expr, rf_cron_t **ret_cron, char *errstr, size_t errstr_size) {
        rf_cron_t *c;
        const char *p = expr ? expr : "";
        int r;

        while (*p == ' ' || *p == '\t')
                p++;
        if (!*p) {
                snprintf(errstr, errstr_size, "empty schedule");
                return -EINVAL;
        }
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        if (*p == '@') {
                size_t n = strcspn(p, " \t");

                if (n == 6 && strncasecmp(p, "@every", 6) == 0) {
                        r = parse_every(p + 6, &c->every_s, errstr, errstr_size);
                        goto out;
                }
                for (size_t i = 0; i < sizeof(shorthands) / sizeof(shorthands[0]); i++)
                        if (strlen(shorthands[i].name) == n && strncasecmp(p, shorthands[i].name, n) == 0) {
                                const char *rest = p + n;

                                while (*rest == ' ' || *rest == '\t')
                                        rest++;
                                if (*rest) {
                                        snprintf(errstr, errstr_size, "%s takes no fields", shorthands[i].name);
                                        r = -EINVAL;
                                        goto out;
                                }
                                r = parse_fields(c, shorthands[i].expr, errstr, errstr_size);
                                goto out;
                        }
                snprintf(
                        errstr, errstr_size,
                        "unknown shorthand '%.*s' (use @hourly, @daily, @weekly, @monthly, @yearly or @every <N>s|m|h)",
                        (int)(n > 40 ? 40 : n), p);
                r = -EINVAL;
                goto out;
        }
        r = parse_fields(c, p, errstr, errstr_size);
out:
        if (r < 0) {
                free(c);
                return r;
        }
        *ret_cron = c;
        return 0;
}

void rf_cron_destroy(rf_cron_t *cron) {
        free(cron);
}

/* ---- time zones ------------------------------------------------------- */

static bool is_utc(const char *tz) {
        return !tz || strcmp(tz, "UTC") == 0 || strcmp(tz, "Etc/UTC") == 0;
}

/* TZDIR is read once: getenv() may not run while another thread switches TZ. */
static char tz_dir[256] = "/usr/share/zoneinfo";
static pthread_once_t tz_dir_once = PTHREAD_ONCE_INIT;

static void read_tz_dir(void) {
        const char *dir = getenv("TZDIR");

        if (dir && *dir && strlen(dir) < sizeof(tz_dir))
                snprintf(tz_dir, sizeof(tz_dir), "%s", dir);
}

int rf_tz_valid(const char *tz) {
        const char *dir;
        char path[512];
        char magic[4];
        struct stat st;
        int fd;
        ssize_t n;

        if (!tz || !*tz || tz[0] == '/' || strstr(tz, "..") || strlen(tz) > 200)
                return 0;
        if (is_utc(tz))
                return 1;
        for (const char *p = tz; *p; p++)
                if (!isalnum((unsigned char)*p) && !strchr("/_+-", *p))
                        return 0;
        pthread_once(&tz_dir_once, read_tz_dir);
        dir = tz_dir;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, tz) >= sizeof(path))
                return 0;
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
                return 0;
        /* The zoneinfo directory also holds zone.tab, leapseconds and the
         * like; only compiled zone files start with "TZif". */
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        n = read(fd, magic, sizeof(magic));
        close(fd);
        return n == (ssize_t)sizeof(magic) && memcmp(magic, "TZif", 4) == 0;
}

static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;

int rf_tz_pin(const char *tz) {
        char buf[256];

        if (is_utc(tz))
                snprintf(buf, sizeof(buf), ":UTC");
        else if (!rf_tz_valid(tz))
                return -EINVAL;
        else
                snprintf(buf, sizeof(buf), ":%s", tz);
        pthread_mutex_lock(&tz_lock);
        if (setenv("TZ", buf, 1) < 0) {
                pthread_mutex_unlock(&tz_lock);
                return -errno;
        }
        tzset();
        pthread_mutex_unlock(&tz_lock);
        return 0;
}

typedef struct zone {
        bool utc;
        bool switched;
        char *saved_tz; /* TZ before the switch, NULL when it was unset */
} zone_t;

/* Makes @p tz the C library's local zone until zone_leave(). */
static int zone_enter(zone_t *z, const char *tz) {
        char buf[256];
        const char *old;

        memset(z, 0, sizeof(*z));
        if (is_utc(tz)) {
                z->utc = true;
                return 0;
        }
        if (!rf_tz_valid(tz))
                return -EINVAL;
        /* A leading ':' makes glibc read the zone file and never try to read
         * the name as a POSIX rule such as "EST5EDT". */
        snprintf(buf, sizeof(buf), ":%s", tz);
        pthread_mutex_lock(&tz_lock);
        old = getenv("TZ");
        if (old && strcmp(old, buf) == 0)
                return 0;
        if (old) {
                z->saved_tz = strdup(old);
                if (!z->saved_tz) {
                        pthread_mutex_unlock(&tz_lock);
                        return -ENOMEM;
                }
        }
        if (setenv("TZ", buf, 1) < 0) {
                free(z->saved_tz);
                pthread_mutex_unlock(&tz_lock);
                return -errno;
        }
        z->switched = true;
        tzset();
        return 0;
}

static void zone_leave(zone_t *z) {
        if (z->utc)
                return;
        if (z->switched) {
                if (z->saved_tz)
                        setenv("TZ", z->saved_tz, 1);
                else
                        unsetenv("TZ");
                tzset();
                free(z->saved_tz);
        }
        pthread_mutex_unlock(&tz_lock);
}

/* The zone's UTC offset (seconds east) at instant @p t. */
static long gmtoff_at(const zone_t *z, int64_t t) {
        struct tm tm;
        time_t tt = (time_t)t;

        if (z->utc || !localtime_r(&tt, &tm))
                return 0;
        return tm.tm_gmtoff;
}

/* ---- calendar arithmetic (proleptic Gregorian, days since 1970-01-01) -- */

static int64_t floor_div(int64_t a, int64_t b) {
        int64_t q = a / b;

        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* From Howard Hinnant's "chrono-compatible low-level date algorithms". */
static int64_t days_from_civil(int64_t y, int m, int d) {
        y -= m <= 2;
        int64_t era = floor_div(y, 400);
        int64_t yoe = y - era * 400;
        int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

        return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *ret_y, int *ret_m, int *ret_d) {
        z += 719468;
        int64_t era = floor_div(z, 146097);
        int64_t doe = z - era * 146097;
        int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        int64_t mp = (5 * doy + 2) / 153;
        int d = (int)(doy - (153 * mp + 2) / 5 + 1);
        int m = (int)(mp < 10 ? mp + 3 : mp - 9);

        *ret_y = yoe + era * 400 + (m <= 2);
        *ret_m = m;
        *ret_d = d;
}

/* Day of the week of a day number, Sunday = 0 (1970-01-01 was a Thursday). */
static int weekday(int64_t days) {
        return (int)(((days % 7) + 11) % 7);
}

/* Whether local day @p day matches the month, day-of-month and day-of-week
 * fields. When the month itself does not match, *ret_month_first and
 * *ret_month_last are set to its first and last day so the caller can jump
 * over it; otherwise both are @p day. */
static bool day_matches(const rf_cron_t *c, int64_t day, int64_t *ret_month_first, int64_t *ret_month_last) {
        int64_t y;
        int m, d;
        bool dm, wm;

        civil_from_days(day, &y, &m, &d);
        if (!(c->month & (1u << m))) {
                *ret_month_first = days_from_civil(y, m, 1);
                *ret_month_last = m == 12 ? days_from_civil(y + 1, 1, 1) - 1 : days_from_civil(y, m + 1, 1) - 1;
                return false;
        }
        *ret_month_first = *ret_month_last = day;
        dm = c->dom & (1u << d);
        wm = c->dow & (1u << weekday(day));
        /* Vixie cron: when either field starts with '*' both must match;
         * when both are restricted, either one is enough. */
        if (c->dom_star || c->dow_star)
                return dm && wm;
        return dm || wm;
}

/* The offsets the zone uses around local day @p day, at most 3 distinct. */
static int day_offsets(const zone_t *z, int64_t day, long offs[3]) {
        int64_t base = day * DAY_S;
        int64_t samples[3] = { base - DAY_S, base + DAY_S / 2, base + 2 * DAY_S };
        int n = 0;

        for (int i = 0; i < 3; i++) {
                long o = gmtoff_at(z, samples[i]);
                bool seen = false;

                for (int j = 0; j < n; j++)
                        seen |= offs[j] == o;
                if (!seen)
                        offs[n++] = o;
        }
        return n;
}

/* Converts local wall-clock seconds @p local (seconds since 1970-01-01 00:00
 * local) to the instant of its first occurrence. Returns false when that
 * local time does not exist (a spring-forward gap). */
static bool local_to_utc(const zone_t *z, const long *offs, int noffs, int64_t local, int64_t *ret_t) {
        bool found = false;
        int64_t best = 0;

        for (int i = 0; i < noffs; i++) {
                int64_t t = local - offs[i];

                if (gmtoff_at(z, t) != offs[i])
                        continue;
                if (!found || t < best)
                        best = t;
                found = true;
        }
        if (found)
                *ret_t = best;
        return found;
}

static int next_fields(const rf_cron_t *c, const zone_t *z, int64_t after_s, int64_t *ret_fire_s) {
        int64_t local0 = after_s + gmtoff_at(z, after_s);
        int64_t day0 = floor_div(local0, DAY_S);
        int64_t sec0 = local0 - day0 * DAY_S;
        int h0 = (int)(sec0 / 3600), m0 = (int)(sec0 % 3600 / 60);

        /* Local times before local0 map to instants <= after_s (the first
         * occurrence is monotonic in local time), so the scan starts there. */
        for (int64_t day = day0; day <= day0 + NEXT_MAX_DAYS; day++) {
                int64_t first, last;
                long offs[3];
                int noffs;

                if (!day_matches(c, day, &first, &last)) {
                        day = last;
                        continue;
                }
                noffs = day_offsets(z, day, offs);
                for (int h = day == day0 ? h0 : 0; h < 24; h++) {
                        if (!(c->hour & (1u << h)))
                                continue;
                        for (int m = day == day0 && h == h0 ? m0 : 0; m < 60; m++) {
                                int64_t t;

                                if (!(c->minute & (UINT64_C(1) << m)))
                                        continue;
                                if (!local_to_utc(z, offs, noffs, day * DAY_S + h * 3600 + m * 60, &t))
                                        continue;
                                if (t > after_s) {
                                        *ret_fire_s = t;
                                        return 0;
                                }
                        }
                }
        }
        return -ENOENT;
}

static int prev_fields(const rf_cron_t *c, const zone_t *z, int64_t now_s, int64_t *ret_fire_s) {
        /* The latest local time whose first occurrence is <= now_s: during a
         * repeated hour that is now's wall clock read with the earlier (DST)
         * offset, so take the largest offset in effect over the last day. */
        long o1 = gmtoff_at(z, now_s), o2 = gmtoff_at(z, now_s - DAY_S);
        int64_t local0 = now_s + (o1 > o2 ? o1 : o2);
        int64_t day0 = floor_div(local0, DAY_S);
        int64_t sec0 = local0 - day0 * DAY_S;
        int h0 = (int)(sec0 / 3600), m0 = (int)(sec0 % 3600 / 60);
        int64_t limit = now_s - (int64_t)PREV_MAX_DAYS * DAY_S;

        for (int64_t day = day0; day >= day0 - PREV_MAX_DAYS - 1; day--) {
                int64_t first, last;
                long offs[3];
                int noffs;

                if (!day_matches(c, day, &first, &last)) {
                        day = first;
                        continue;
                }
                noffs = day_offsets(z, day, offs);
                for (int h = day == day0 ? h0 : 23; h >= 0; h--) {
                        if (!(c->hour & (1u << h)))
                                continue;
                        for (int m = day == day0 && h == h0 ? m0 : 59; m >= 0; m--) {
                                int64_t t;

                                if (!(c->minute & (UINT64_C(1) << m)))
                                        continue;
                                if (!local_to_utc(z, offs, noffs, day * DAY_S + h * 3600 + m * 60, &t))
                                        continue;
                                if (t > now_s)
                                        continue;
                                if (t < limit)
                                        return -ENOENT;
                                *ret_fire_s = t;
                                return 0;
                        }
                }
        }
        return -ENOENT;
}

int rf_cron_prev(const rf_cron_t *cron, const char *tz, int64_t now_s, int64_t *ret_fire_s) {
        zone_t z;
        int64_t t = 0;
        int r;

        if (cron->every_s > 0) {
                if (!is_utc(tz) && !rf_tz_valid(tz))
                        return -EINVAL;
                *ret_fire_s = floor_div(now_s, cron->every_s) * cron->every_s;
                return 0;
        }
        r = zone_enter(&z, tz);
        if (r < 0)
                return r;
        r = prev_fields(cron, &z, now_s, &t);
        zone_leave(&z);
        if (r == 0)
                *ret_fire_s = t;
        return r;
}

int rf_cron_next(const rf_cron_t *cron, const char *tz, int64_t after_s, int64_t *ret_fire_s) {
        zone_t z;
        int64_t t = 0;
        int r;

        if (cron->every_s > 0) {
                if (!is_utc(tz) && !rf_tz_valid(tz))
                        return -EINVAL;
                *ret_fire_s = (floor_div(after_s, cron->every_s) + 1) * cron->every_s;
                return 0;
        }
        r = zone_enter(&z, tz);
        if (r < 0)
                return r;
        r = next_fields(cron, &z, after_s, &t);
        zone_leave(&z);
        if (r == 0)
                *ret_fire_s = t;
        return r;
}

int rf_tz_localtime(const char *tz, int64_t t_s, struct tm *ret_tm) {
        time_t tt = (time_t)t_s;
        struct tm tm;
        zone_t z;
        bool ok;
        int r;

        r = zone_enter(&z, tz);
        if (r < 0)
                return r;
        ok = z.utc ? gmtime_r(&tt, &tm) != NULL : localtime_r(&tt, &tm) != NULL;
        zone_leave(&z);
        if (!ok)
                return -EINVAL;
        *ret_tm = tm;
        return 0;
}

int rf_tz_mktime(const char *tz, const struct tm *local, int64_t *ret_s) {
        int64_t day = days_from_civil((int64_t)local->tm_year + 1900, local->tm_mon + 1, local->tm_mday);
        int64_t t = 0;
        long offs[3];
        zone_t z;
        bool found;
        int r;

        r = zone_enter(&z, tz);
        if (r < 0)
                return r;
        found = local_to_utc(&z, offs, day_offsets(&z, day, offs),
                             day * DAY_S + local->tm_hour * 3600 + local->tm_min * 60 + local->tm_sec, &t);
        zone_leave(&z);
        if (!found)
                return -ENOENT;
        *ret_s = t;
        return 0;
}

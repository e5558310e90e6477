// lemon_match: the baseline of `make bench-matching`. It reads the same instance JSON as `suilong match`,
// applies the same pair rules (docs/matching-solve.md, "Rules"), and solves each product on its own with
// LEMON's NetworkSimplex on the plain bipartite graph of the usable pairs:
//
//   offer i --(cap inf, cost -surplus_ij)--> demand j --(cap q_j, cost 0)--> t
//   offer i --(cap q_i, cost 0)--> t              supply q_i at i, -sum q_i at t
//
// Products are solved on as many threads as the machine has (or -threads N), as Suilong does. It prints the
// objective in CNY with two decimals on standard output, and a line of statistics on standard error.
//
// Build: g++ -O2 -std=c++17 -o lemon-match lemon_match.cc -llemon -pthread (bench.sh does this).

#include <lemon/network_simplex.h>
#include <lemon/smart_graph.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

using std::int64_t;

static void die(const char *what, const std::string &detail = "") {
    std::fprintf(stderr, "lemon-match: %s%s%s\n", what, detail.empty() ? "" : ": ", detail.c_str());
    std::exit(2);
}

// Money in fen, exactly: the numbers are read as their text (kParseNumbersAsStringsFlag).
static int64_t fen(const rapidjson::Value &v) {
    if (!v.IsString()) die("money is not a number");
    const char *s = v.GetString();
    bool neg = *s == '-';
    if (neg) s++;
    int64_t whole = 0, cents = 0;
    for (; *s >= '0' && *s <= '9'; s++) whole = whole * 10 + (*s - '0');
    if (*s == '.') {
        s++;
        int digits = 0;
        for (; *s >= '0' && *s <= '9'; s++, digits++) cents = cents * 10 + (*s - '0');
        if (digits == 1) cents *= 10;
        if (digits > 2) die("money with more than two decimals");
    }
    int64_t f = whole * 100 + cents;
    return neg ? -f : f;
}

static int64_t integer(const rapidjson::Value &v) {
    if (!v.IsString()) die("not a number");
    return std::strtoll(v.GetString(), nullptr, 10);
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {  // Howard Hinnant's algorithm
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// RFC 3339 (2026-11-20T06:00:00Z, 2026-11-20T14:00:00.5+08:00) to Unix nanoseconds.
static int64_t instant(const rapidjson::Value &v) {
    if (!v.IsString()) die("time is not a string");
    const char *s = v.GetString();
    auto num = [&](int at, int n) {
        int64_t x = 0;
        for (int k = 0; k < n; k++) x = x * 10 + (s[at + k] - '0');
        return x;
    };
    if (std::strlen(s) < 20) die("bad time", s);
    int64_t days = days_from_civil(num(0, 4), num(5, 2), num(8, 2));
    int64_t ns = ((days * 24 + num(11, 2)) * 60 + num(14, 2)) * 60 + num(17, 2);
    ns *= 1000000000;
    const char *p = s + 19;
    if (*p == '.') {
        int64_t frac = 0, scale = 1000000000;
        for (p++; *p >= '0' && *p <= '9'; p++) {
            scale /= 10;
            frac += (*p - '0') * scale;
        }
        ns += frac;
    }
    if (*p == '+' || *p == '-') {
        int64_t off = ((p[1] - '0') * 10 + (p[2] - '0')) * 60 + (p[4] - '0') * 10 + (p[5] - '0');
        ns -= (*p == '+' ? 1 : -1) * off * 60 * 1000000000LL;
    }
    return ns;
}

struct Offer {
    int product, origin, grade;
    int64_t kg, a, harvest, avail;  // a = bonus - min price
    uint64_t certs;
};
struct Demand {
    int product, dest, grade;
    int64_t kg, b, due;
    uint64_t req;
};
struct LaneT {
    bool ok = false;
    int64_t cost = 0, transit = 0;
};

int main(int argc, char **argv) {
    const char *path = nullptr;
    unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    for (int k = 1; k < argc; k++) {
        if (!std::strcmp(argv[k], "-threads") && k + 1 < argc) {
            threads = std::max(1, std::atoi(argv[++k]));
        } else {
            path = argv[k];
        }
    }
    if (!path) die("usage: lemon-match [-threads N] instance.json");
    FILE *f = std::fopen(path, "rb");
    if (!f) die("cannot open", path);
    std::fseek(f, 0, SEEK_END);
    long size = std::ftell(f);
    std::fseek(f, 0, SEEK_SET);
    std::vector<char> text(size + 1);
    if (std::fread(text.data(), 1, size, f) != static_cast<size_t>(size)) die("cannot read", path);
    std::fclose(f);
    text[size] = 0;

    std::vector<Offer> offers;
    std::vector<Demand> demands;
    std::vector<int64_t> shelf;
    std::vector<LaneT> lanes;
    int nDest = 0;
    {
        rapidjson::Document doc;
        doc.ParseInsitu<rapidjson::kParseNumbersAsStringsFlag>(text.data());
        if (doc.HasParseError() || !doc.IsObject()) die("not a JSON object", path);
        std::unordered_map<std::string, int> products, origins, dests, certs;
        auto id = [](std::unordered_map<std::string, int> &m, const rapidjson::Value &v) {
            auto it = m.emplace(std::string(v.GetString(), v.GetStringLength()), static_cast<int>(m.size()));
            return it.first->second;
        };
        auto bits = [&](const rapidjson::Value &obj, const char *name) {
            uint64_t set = 0;
            auto it = obj.FindMember(name);
            if (it == obj.MemberEnd() || !it->value.IsArray()) return set;
            for (auto &c : it->value.GetArray()) {
                int k = id(certs, c);
                if (k >= 64) die("more than 64 certifications");
                set |= uint64_t(1) << k;
            }
            return set;
        };
        const int64_t hour = 3600LL * 1000000000LL;
        for (auto &p : doc["products"].GetArray()) {
            id(products, p["name"]);
            shelf.push_back(integer(p["shelf_life_hours"]) * hour);
        }
        for (auto &o : doc["offers"].GetArray()) {
            Offer x;
            auto pit = products.find(o["product"].GetString());
            if (pit == products.end()) die("unknown product", o["product"].GetString());
            x.product = pit->second;
            x.origin = id(origins, o["origin"]);
            x.grade = static_cast<int>(integer(o["grade"]));
            x.kg = integer(o["quantity_kg"]);
            auto bonus = o.FindMember("priority_bonus_per_kg");
            x.a = (bonus != o.MemberEnd() ? fen(bonus->value) : 0) - fen(o["min_price_per_kg"]);
            x.harvest = instant(o["harvested_at"]);
            x.avail = instant(o["available_from"]);
            x.certs = bits(o, "certifications");
            offers.push_back(x);
        }
        for (auto &d : doc["demands"].GetArray()) {
            Demand x;
            auto pit = products.find(d["product"].GetString());
            if (pit == products.end()) die("unknown product", d["product"].GetString());
            x.product = pit->second;
            x.dest = id(dests, d["destination"]);
            x.grade = static_cast<int>(integer(d["min_grade"]));
            x.kg = integer(d["quantity_kg"]);
            x.b = fen(d["max_price_per_kg"]);
            x.due = instant(d["deliver_by"]);
            x.req = bits(d, "required_certifications");
            demands.push_back(x);
        }
        nDest = static_cast<int>(dests.size());
        lanes.resize(origins.size() * dests.size());
        for (auto &l : doc["lanes"].GetArray()) {
            auto o = origins.find(l["origin"].GetString());
            auto d = dests.find(l["destination"].GetString());
            if (o == origins.end() || d == dests.end()) continue;
            LaneT &x = lanes[o->second * nDest + d->second];
            x.ok = true;
            x.cost = fen(l["cost_per_kg"]);
            x.transit = integer(l["transit_hours"]) * hour;
        }
    }

    const int nProducts = static_cast<int>(shelf.size());
    std::vector<std::vector<int>> byProductO(nProducts), byProductD(nProducts);
    for (int i = 0; i < static_cast<int>(offers.size()); i++) byProductO[offers[i].product].push_back(i);
    for (int j = 0; j < static_cast<int>(demands.size()); j++) byProductD[demands[j].product].push_back(j);

    std::vector<int64_t> objective(nProducts, 0);
    std::vector<int64_t> arcsOf(nProducts, 0);
    std::atomic<int> next{0};
    std::atomic<bool> failed{false};
    auto work = [&]() {
        for (;;) {
            int p = next.fetch_add(1);
            if (p >= nProducts) return;
            const auto &os = byProductO[p];
            const auto &ds = byProductD[p];
            if (os.empty() || ds.empty()) continue;
            typedef lemon::SmartDigraph G;
            G g;
            g.reserveNode(static_cast<int>(os.size() + ds.size() + 1));
            std::vector<G::Node> on(os.size()), dn(ds.size());
            for (auto &n : on) n = g.addNode();
            for (auto &n : dn) n = g.addNode();
            G::Node t = g.addNode();
            std::vector<int64_t> capv, costv;
            int64_t total = 0;
            for (size_t a = 0; a < os.size(); a++) {
                const Offer &o = offers[os[a]];
                total += o.kg;
                for (size_t b = 0; b < ds.size(); b++) {
                    const Demand &d = demands[ds[b]];
                    const LaneT &l = lanes[o.origin * nDest + d.dest];
                    if (!l.ok || o.grade > d.grade || (d.req & ~o.certs) != 0) continue;
                    int64_t arrival = o.avail + l.transit;
                    if (arrival - o.harvest > shelf[p] || arrival > d.due) continue;
                    int64_t surplus = o.a + d.b - l.cost;
                    if (surplus <= 0) continue;
                    g.addArc(on[a], dn[b]);
                    capv.push_back(std::min(o.kg, d.kg));
                    costv.push_back(-surplus);
                }
            }
            arcsOf[p] = static_cast<int64_t>(capv.size());
            for (size_t a = 0; a < os.size(); a++) {
                g.addArc(on[a], t);
                capv.push_back(offers[os[a]].kg);
                costv.push_back(0);
            }
            for (size_t b = 0; b < ds.size(); b++) {
                g.addArc(dn[b], t);
                capv.push_back(demands[ds[b]].kg);
                costv.push_back(0);
            }
            G::ArcMap<int64_t> cap(g), cost(g);
            for (G::ArcIt e(g); e != lemon::INVALID; ++e) {
                cap[e] = capv[g.id(e)];
                cost[e] = costv[g.id(e)];
            }
            G::NodeMap<int64_t> sup(g, 0);
            for (size_t a = 0; a < os.size(); a++) sup[on[a]] = offers[os[a]].kg;
            sup[t] = -total;
            lemon::NetworkSimplex<G, int64_t, int64_t> ns(g);
            ns.upperMap(cap).costMap(cost).supplyMap(sup);
            if (ns.run() != lemon::NetworkSimplex<G, int64_t, int64_t>::OPTIMAL) {
                failed = true;
                return;
            }
            objective[p] = -ns.totalCost<int64_t>();
        }
    };
    std::vector<std::thread> pool;
    for (unsigned k = 1; k < threads; k++) pool.emplace_back(work);
    work();
    for (auto &th : pool) th.join();
    if (failed) die("network simplex found no optimum");

    int64_t sum = 0, arcs = 0;
    for (int p = 0; p < nProducts; p++) {
        sum += objective[p];
        arcs += arcsOf[p];
    }
    std::printf("%s%lld.%02lld\n", sum < 0 ? "-" : "", static_cast<long long>(std::llabs(sum) / 100),
                static_cast<long long>(std::llabs(sum) % 100));
    std::fprintf(stderr, "lemon-match: %d products, %zu offers, %zu demands, %lld usable pairs, %u threads\n", nProducts,
                 offers.size(), demands.size(), static_cast<long long>(arcs), threads);
    return 0;
}

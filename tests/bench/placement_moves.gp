# Moves against the optimum and max/fair, Starling's bounded placement beside
# plain rendezvous, the token ring and the bounded-load ring, for eps 0.1 to
# 1.0, on the large case and on test_placement's random small clusters.
# Called by tests/bench/bench_placement.sh with large, small (the .dat files
# bench_placement writes) and out (the PNG) set.
# Columns: 1 eps; then max/fair, removal, addition for Starling (2-4),
# plain rendezvous (5-7), token ring (8-10), bounded ring (11-13).
set terminal pngcairo size 1200,800 font ",10" noenhanced
set output out
set multiplot layout 2,3 title "Placement: Starling bounded beside consistent hashing with bounded loads; large case 10,000 x 3 over 1,000 members, small clusters: test_placement, seeds 1..20"
set xlabel "eps"
set logscale x
set xtics (0.1, 0.25, 0.5, 1.0)
set grid
set key top right
set yrange [0:*]
st = 'with linespoints lw 2 pt 7'
do for [f in "large small"] {
    file = f eq "large" ? large : small
    name = f eq "large" ? "large case" : "small clusters"
    set key top right
    set title name.": removal, moved / held"
    plot file u 1:3 @st t "Starling bounded", file u 1:12 @st t "bounded ring", \
         file u 1:6 @st t "plain rendezvous", file u 1:9 @st t "token ring"
    set title name.": addition, moved / fair share"
    plot file u 1:4 @st t "Starling bounded", file u 1:13 @st t "bounded ring", \
         file u 1:7 @st t "plain rendezvous", file u 1:10 @st t "token ring"
    set key bottom right
    set title name.": max load / fair share"
    plot file u 1:2 @st t "Starling bounded", file u 1:11 @st t "bounded ring", \
         file u 1:5 @st t "plain rendezvous", file u 1:8 @st t "token ring"
}
unset multiplot

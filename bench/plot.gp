# IOPS vs queue depth, 4 KiB random read from a raw file in tmpfs, for the
# four paths of bench/run. Input (bench/plot writes it): "depth a b c d"
# rows, IOPS. Call: gnuplot -e "datafile='F'; outfile='O.png'" plot.gp
if (!exists("datafile")) datafile = 'build-bench/iops-vs-depth.dat'
if (!exists("outfile")) outfile = 'build-bench/iops-vs-depth.png'
if (!exists("subtitle")) subtitle = ''

set terminal pngcairo size 900,560 font ",11" noenhanced
set output outfile
set title "4 KiB random read, raw file in /dev/shm, qemu-storage-daemon\n" . subtitle
set xlabel "queue depth"
set ylabel "IOPS (thousands)"
set logscale x 2
set xtics (1, 4, 8, 16, 32)
set xrange [0.8:40]
set yrange [0:*]
set grid ytics
set key top left
plot datafile using 1:($4/1000) with linespoints lw 2 pt 7 title "(c) direct vhost-user front-end (limit)", \
     datafile using 1:($2/1000) with linespoints lw 2 pt 5 title "(a) xen-vhostd, zero copy", \
     datafile using 1:($3/1000) with linespoints lw 2 pt 9 title "(b) xen-vhostd, shadow", \
     datafile using 1:($5/1000) with linespoints lw 2 pt 11 title "(d) zero copy + kernel fast path (simulated)"

package dev.float8j.samples;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.knowm.xchart.AnnotationLine;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.CategorySeries;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.AxesChartStyler;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.lines.SeriesLines;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * The demo's pictures, which answer its question (does each FP8 recipe train as well as high precision?):
 * <ul>
 *   <li>gap.png: each recipe's training loss relative to high precision's, step by step, both smoothed, in percent,
 *       with the validation gaps as markers and the ±1% target as dashed lines;</li>
 *   <li>final-gap.png: the final validation gap of each recipe as a bar, with the ±1% lines;</li>
 *   <li>loss.png and loss-second-half.png: the raw losses (training smoothed as lines, validation as markers).</li>
 * </ul>
 * Every recipe keeps one colour in every chart; high precision is black.
 */
final class ReportCharts {
    /** Ten colours that stay distinct for colour-blind readers too (Tableau 10). */
    private static final Color[] PALETTE = {new Color(0x4E79A7), new Color(0xF28E2B), new Color(0xE15759),
        new Color(0x76B7B2), new Color(0x59A14F), new Color(0xEDC948), new Color(0xB07AA1), new Color(0xFF9DA7),
        new Color(0x9C755F), new Color(0x79706E)};
    private static final BasicStroke DASHED = new BasicStroke(1.2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f,
            new float[] {6f, 4f}, 0f);
    private static final int WIDTH = 1100;
    private static final int HEIGHT = 650;

    private final List<RunResult> runs;
    private final RunResult baseline;
    private final int smoothing;

    ReportCharts(List<RunResult> runs, RunResult baseline) {
        this.runs = runs;
        this.baseline = baseline;
        this.smoothing = Math.max(5, baseline.trainLosses().length / 10);
    }

    void writeAll(Path folder) throws IOException {
        save(gapChart(), folder.resolve("gap.png"));
        save(finalGapChart(), folder.resolve("final-gap.png"));
        save(lossChart(0, "loss by recipe"), folder.resolve("loss.png"));
        save(lossChart(baseline.trainLosses().length / 2, "loss by recipe, second half of training"),
                folder.resolve("loss-second-half.png"));
    }

    /** The colour of a run: black for high precision, else its place among the FP8 runs in the palette. */
    private Color colour(RunResult r) {
        if (r == baseline) {
            return Color.BLACK;
        }
        int fp8Index = 0;
        for (RunResult other : runs) {
            if (other == r) {
                break;
            }
            if (other != baseline) {
                fp8Index++;
            }
        }
        return PALETTE[fp8Index % PALETTE.length];
    }

    /** A run's name in legends, saying when its losses equal an earlier run's bit for bit (its line hides under it). */
    String label(RunResult r) {
        for (RunResult other : runs) {
            if (other == r) {
                break;
            }
            if (java.util.Arrays.equals(other.trainLosses(), r.trainLosses())
                    && java.util.Arrays.equals(other.validationLosses(), r.validationLosses())) {
                return r.recipe().id() + " (= " + other.recipe().id() + ")";
            }
        }
        return r.recipe().id();
    }

    /** Trailing moving average over the smoothing window (shorter at the start). */
    double[] smoothed(float[] values) {
        double[] out = new double[values.length];
        double window = 0;
        for (int i = 0; i < values.length; i++) {
            window += values[i];
            if (i >= smoothing) {
                window -= values[i - smoothing];
            }
            out[i] = window / Math.min(i + 1, smoothing);
        }
        return out;
    }

    private XYChart gapChart() {
        XYChart chart = new XYChartBuilder().width(WIDTH).height(HEIGHT)
                .title("FP8 loss relative to high precision (training: " + smoothing + "-step mean; markers: validation)")
                .xAxisTitle("step").yAxisTitle("loss gap to high precision (%)").build();
        style(chart.getStyler());
        chart.getStyler().setYAxisDecimalPattern("+0.0;-0.0");
        double[] hp = smoothed(baseline.trainLosses());
        int from = Math.min(smoothing, hp.length - 1);
        double[] x = new double[hp.length - from];
        for (int i = 0; i < x.length; i++) {
            x[i] = from + i + 1;
        }
        double low = -1.5;
        double high = 1.5;
        for (RunResult r : runs) {
            if (r == baseline) {
                continue;
            }
            double[] mine = smoothed(r.trainLosses());
            double[] gap = new double[x.length];
            for (int i = 0; i < gap.length; i++) {
                gap[i] = 100 * (mine[from + i] - hp[from + i]) / hp[from + i];
                low = Math.min(low, gap[i]);
                high = Math.max(high, gap[i]);
            }
            XYSeries line = chart.addSeries(label(r), x, gap);
            line.setMarker(SeriesMarkers.NONE);
            line.setLineColor(colour(r));
            line.setLineWidth(1.6f);
            line.setLineStyle(SeriesLines.SOLID);
            double[] vx = new double[r.validationSteps().length];
            double[] vy = new double[vx.length];
            for (int i = 0; i < vx.length; i++) {
                vx[i] = r.validationSteps()[i];
                vy[i] = 100 * (r.validationLosses()[i] - baseline.validationLosses()[i]) / baseline.validationLosses()[i];
            }
            XYSeries val = chart.addSeries(r.recipe().id() + " validation", vx, vy);
            val.setLineStyle(SeriesLines.NONE);
            val.setMarker(SeriesMarkers.CIRCLE);
            val.setMarkerColor(colour(r));
            val.setShowInLegend(false);
        }
        double[] ends = {x[0], x[x.length - 1]};
        for (double target : new double[] {1, -1}) {
            XYSeries limit = chart.addSeries((target > 0 ? "+" : "-") + "1% target", ends, new double[] {target, target});
            limit.setMarker(SeriesMarkers.NONE);
            limit.setLineColor(Color.GRAY);
            limit.setLineStyle(DASHED);
            limit.setShowInLegend(target > 0);
        }
        chart.getStyler().setYAxisMin(Math.floor(low * 2) / 2).setYAxisMax(Math.ceil(high * 2) / 2);
        roundXAxis(chart, 0, hp.length);
        return chart;
    }

    private CategoryChart finalGapChart() {
        CategoryChart chart = new CategoryChartBuilder().width(WIDTH).height(HEIGHT)
                .title("final validation loss relative to high precision").xAxisTitle("recipe")
                .yAxisTitle("validation loss gap (%)").build();
        style(chart.getStyler());
        chart.getStyler().setOverlapped(true);
        chart.getStyler().setXAxisLabelRotation(20);
        chart.getStyler().setYAxisDecimalPattern("+0.0;-0.0");
        chart.getStyler().setLegendVisible(false);
        List<String> names = new ArrayList<>();
        for (RunResult r : runs) {
            if (r != baseline) {
                names.add(String.format(java.util.Locale.ROOT, "%s (%+.2f%%)", r.recipe().id(), 100 * gap(r)));
            }
        }
        double low = -1.5;
        double high = 1.5;
        int index = 0;
        for (RunResult r : runs) {
            if (r == baseline) {
                continue;
            }
            // one series per recipe, zero elsewhere, so that every bar takes its recipe's colour
            List<Double> values = new ArrayList<>();
            for (int i = 0; i < names.size(); i++) {
                values.add(i == index ? 100 * gap(r) : 0.0);
            }
            low = Math.min(low, 100 * gap(r));
            high = Math.max(high, 100 * gap(r));
            CategorySeries bar = chart.addSeries(r.recipe().id(), names, values);
            bar.setFillColor(colour(r));
            index++;
        }
        for (double target : new double[] {1, -1}) {
            AnnotationLine line = new AnnotationLine(target, false, false);
            chart.addAnnotation(line);
        }
        chart.getStyler().setAnnotationLineColor(Color.GRAY).setAnnotationLineStroke(DASHED);
        chart.getStyler().setYAxisMin(Math.floor(low * 2) / 2).setYAxisMax(Math.ceil(high * 2) / 2);
        return chart;
    }

    private XYChart lossChart(int fromStep, String title) {
        XYChart chart = new XYChartBuilder().width(WIDTH).height(HEIGHT)
                .title("float8j demo: " + title + " (training: " + smoothing + "-step mean; markers: validation)")
                .xAxisTitle("step").yAxisTitle("cross-entropy (nats/char)").build();
        style(chart.getStyler());
        chart.getStyler().setYAxisDecimalPattern("0.00");
        double low = Double.MAX_VALUE;
        double high = -Double.MAX_VALUE;
        for (RunResult r : runs) {
            double[] all = smoothed(r.trainLosses());
            double[] x = new double[all.length - fromStep];
            double[] y = new double[x.length];
            for (int i = 0; i < x.length; i++) {
                x[i] = fromStep + i + 1;
                y[i] = all[fromStep + i];
                low = Math.min(low, y[i]);
                high = Math.max(high, y[i]);
            }
            XYSeries train = chart.addSeries(label(r), x, y);
            train.setMarker(SeriesMarkers.NONE);
            train.setLineColor(colour(r));
            train.setLineWidth(r == baseline ? 2.2f : 1.2f);
            train.setLineStyle(SeriesLines.SOLID);
            List<Double> vx = new ArrayList<>();
            List<Double> vy = new ArrayList<>();
            for (int i = 0; i < r.validationSteps().length; i++) {
                if (r.validationSteps()[i] > fromStep) {
                    vx.add((double) r.validationSteps()[i]);
                    vy.add((double) r.validationLosses()[i]);
                    low = Math.min(low, r.validationLosses()[i]);
                    high = Math.max(high, r.validationLosses()[i]);
                }
            }
            if (!vx.isEmpty()) {
                XYSeries val = chart.addSeries(r.recipe().id() + " validation", vx, vy);
                val.setLineStyle(SeriesLines.NONE);
                val.setMarker(SeriesMarkers.CIRCLE);
                val.setMarkerColor(colour(r));
                val.setShowInLegend(false);
            }
        }
        double span = Math.max(high - low, 1e-3);
        chart.getStyler().setYAxisMin(low - 0.05 * span).setYAxisMax(high + 0.05 * span);
        roundXAxis(chart, fromStep, baseline.trainLosses().length);
        return chart;
    }

    /**
     * Steps from..to on the x axis, widened to multiples of a round tick, so that the ticks fall on round steps. XChart
     * puts a tick on every k-th x value when all x values are evenly spaced (here: one per step), which gives ticks
     * such as 81, 84, 87; one hidden point off that grid makes it choose round ticks instead. Call it after the
     * y range is set: the hidden point sits at the bottom of it.
     */
    private static void roundXAxis(XYChart chart, int from, int to) {
        double tick = roundTick((to - from) / 8.0);
        double min = Math.floor(from / tick) * tick;
        chart.getStyler().setXAxisMin(min).setXAxisMax(Math.ceil(to / tick) * tick);
        XYSeries offGrid = chart.addSeries(" ", new double[] {min + 0.5}, new double[] {chart.getStyler().getYAxisMin()});
        offGrid.setMarker(SeriesMarkers.NONE);
        offGrid.setLineStyle(SeriesLines.NONE);
        offGrid.setShowInLegend(false);
    }

    /** The 1, 2 or 5 times a power of ten nearest above raw. */
    static double roundTick(double raw) {
        double power = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 1))));
        for (double m : new double[] {1, 2, 5, 10}) {
            if (m * power >= raw) {
                return m * power;
            }
        }
        return 10 * power;
    }

    private double gap(RunResult r) {
        return (r.finalValidationLoss() - baseline.finalValidationLoss()) / baseline.finalValidationLoss();
    }

    private static void style(AxesChartStyler s) {
        s.setChartBackgroundColor(Color.WHITE).setPlotBackgroundColor(Color.WHITE).setPlotBorderVisible(false);
        s.setPlotGridLinesColor(new Color(0xE0E0E0));
        s.setLegendPosition(Styler.LegendPosition.OutsideE).setLegendBorderColor(Color.WHITE);
        s.setChartTitleFont(new Font(Font.SANS_SERIF, Font.BOLD, 15)).setChartTitleBoxVisible(false);
        s.setAxisTickLabelsFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        s.setXAxisDecimalPattern("#,##0");
        s.setMarkerSize(8);
    }

    private static void save(org.knowm.xchart.internal.chartpart.Chart<?, ?> chart, Path file) throws IOException {
        BitmapEncoder.saveBitmap(chart, file.toString(), BitmapEncoder.BitmapFormat.PNG);
    }
}

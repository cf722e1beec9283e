import Testing
@testable import InterruptBridgeBench

@Suite struct StatisticsTests {
    @Test func nearestRankPercentiles() {
        let sorted = (1...1000).map(Double.init)
        #expect(Statistics.percentile(sorted, 50) == 500)
        #expect(Statistics.percentile(sorted, 99) == 990)
        #expect(Statistics.percentile(sorted, 99.9) == 999)
        #expect(Statistics.percentile(sorted, 100) == 1000)
        #expect(Statistics.percentile(sorted, 0) == 1)
        #expect(Statistics.percentile([], 50) == nil)
    }

    @Test func medianOfOddAndEvenCounts() {
        #expect(Statistics.median([3, 1, 2]) == 2)
        #expect(Statistics.median([4, 1, 3, 2]) == 2.5)
        #expect(Statistics.median([]) == nil)
    }

    @Test func ratioIsUndefinedForAZeroBaseline() {
        #expect(Statistics.ratio(0, 0) == nil)
        #expect(Statistics.ratio(3, nil) == nil)
        #expect(Statistics.ratio(3, 2) == 1.5)
    }

    @Test func targetsJudgeTheRightFigure() {
        #expect(BenchResult(name: "l", unit: "ns", bridge: 110, baseline: 100, target: .ratioAtMost(1.10)).verdict == true)
        #expect(BenchResult(name: "l", unit: "ns", bridge: 111, baseline: 100, target: .ratioAtMost(1.10)).verdict == false)
        #expect(BenchResult(name: "t", unit: "/s", bridge: 89, baseline: 100, target: .ratioAtLeast(0.90)).verdict == false)
        #expect(BenchResult(name: "b", unit: "ns", bridge: 100, baseline: 100, target: .ratioBelow(1.0)).verdict == false)
        #expect(BenchResult(name: "a", unit: "allocs", bridge: 0, baseline: 0, target: .valueAtMost(0)).verdict == true)
        #expect(BenchResult(name: "a", unit: "allocs", bridge: 0.001, baseline: 0, target: .valueAtMost(0)).verdict == false)
        #expect(BenchResult(name: "a", unit: "allocs", bridge: nil, baseline: 0, target: .valueAtMost(0)).verdict == nil)
        #expect(BenchResult(name: "n", unit: "ns", bridge: 1, baseline: 1).verdict == nil)
    }

    @Test func strideVisitsEveryVector() {
        for count in [1, 2, 16, 97, 194, 1024] {
            let stride = ScenarioRunner.stride(for: count)
            let visited = Set((0..<count).map { ($0 * stride) % count })
            #expect(visited.count == count, "stride \(stride) for \(count) vectors")
        }
    }
}

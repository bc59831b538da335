<?php
// topthink/think-helper's think\helper\Arr, reduced to get(): the one method think\queue\Job calls.

namespace think\helper;

use Closure;

class Arr
{
    /** An item of an array by key, or by "dot" path (a.b.c); $default (called if a Closure) when missing. */
    public static function get($array, $key, $default = null)
    {
        if (is_null($key)) {
            return $array;
        }
        if (is_array($array) && array_key_exists($key, $array)) {
            return $array[$key];
        }
        foreach (explode('.', (string) $key) as $segment) {
            if (!is_array($array) || !array_key_exists($segment, $array)) {
                return $default instanceof Closure ? $default() : $default;
            }
            $array = $array[$segment];
        }
        return $array;
    }
}

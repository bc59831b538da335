<?php
// topthink/think-helper's think\helper\Str, reduced to studly(): the one method think\queue\Job calls.

namespace think\helper;

class Str
{
    /** "send_mail" and "send-mail" as "SendMail" (a job name as a class name). */
    public static function studly(string $value): string
    {
        return str_replace(' ', '', ucwords(str_replace(['-', '_'], ' ', $value)));
    }
}
